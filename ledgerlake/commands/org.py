"""``ledgerlake org …``: an organisation's encryption key (X25519), which stream owners wrap
data keys for. 'network up' creates and publishes one per organisation; this shows and
rotates it (over ``ledgerlake.client.streams``)."""

from __future__ import annotations

import click

from ledgerlake.cli import _contract, _network, _state_dir_option, _when, out


@click.group()
def org() -> None:
    """Organisations' encryption keys: show, rotate."""


@org.command("key")
@_state_dir_option
@click.argument("name")
def org_key(state_dir, name: str) -> None:
    """NAME's published encryption key, and whether this state directory holds its private
    key (it must match to open streams)."""
    from ledgerlake.client.encryption import load_org_key, public_pem
    from ledgerlake.client.streams import published_key, retired_key_paths

    net = _network(state_dir)
    spec = net.layout.org(name)
    path = net.org_key_path(spec.name)
    with _contract(state_dir, f"{spec.name}/admin") as api:
        key = published_key(api, spec.msp_id)
    if key is None:
        out.print(f"{spec.msp_id} has published no encryption key; run 'ledgerlake network "
                  f"up' or 'ledgerlake org rotate-key {spec.name}'.")
        return
    local = public_pem(load_org_key(path)) if path.exists() else None
    state = ("matches the published key" if local and local.strip() == key.public_key.strip()
             else "DIFFERS from the published key" if local else "is missing")
    out.print(f"{spec.msp_id}: published {_when(key.updated)}; private key {path} {state}; "
              f"{len(retired_key_paths(path))} retired key(s)")
    out.print(key.public_key.strip(), markup=False, highlight=False)


@org.command("rotate-key")
@_state_dir_option
@click.argument("name")
def org_rotate_key(state_dir, name: str) -> None:
    """Give organisation NAME a new encryption key pair, published as its admin.

    The old private key is kept as a retired key (the key epochs wrapped so far were
    wrapped for it, so they still open). Every stream NAME owns gets a new key epoch
    wrapped for its readers (the new key among them); the owners of the other streams NAME
    reads must run 'ledgerlake stream rotate STREAM' before NAME reads new epochs with the
    new key.
    """
    from ledgerlake.client.streams import rotate_org_key

    net = _network(state_dir)
    spec = net.layout.org(name)
    with _contract(state_dir, f"{spec.name}/admin") as api:
        done = rotate_org_key(api, spec.msp_id, net.org_key_path(spec.name),
                              settle=net.settle)
    out.print(f"Published a new encryption key for {spec.msp_id} "
              f"({net.org_key_path(spec.name)}); the old one is kept in "
              f"{done.retired or '-'}.")
    if done.rekeyed:
        out.print(f"Rotated the data key of the streams {spec.msp_id} owns: "
                  f"{', '.join(done.rekeyed)}.")
    for stream_id, owner in sorted(done.owners_must_rotate.items()):
        out.print(f"Stream {stream_id!r} is owned by {owner}: its admins run 'ledgerlake "
                  f"stream rotate {stream_id}' to wrap the next epoch for the new key.")
