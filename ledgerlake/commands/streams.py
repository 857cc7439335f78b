"""``ledgerlake stream …``: read streams, and manage them as an owner organisation's admin
(over ``ledgerlake.client.streams``)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ledgerlake.cli import (
    _as_option,
    _contract,
    _format_option,
    _emit,
    _json_option,
    _network,
    _print_json,
    _progress,
    _state_dir_option,
    _take,
    _when,
    out,
)
from ledgerlake.errors import ConfigError


@click.group()
def stream() -> None:
    """Streams: definitions, readers and writers, keys, batches (through the contract)."""


# -- helpers ------------------------------------------------------------------------------
def _msp(net, name: str) -> str:
    """An organisation as its MSP ID: a local network's org name (Org2) or an MSP ID."""
    try:
        return net.layout.org(name).msp_id
    except ConfigError:
        return name


def _msps(net, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("give organisations separated by commas, e.g. Org1MSP,Org2MSP")
    return sorted({_msp(net, n) for n in names})


def _caller_msp(net, who: str) -> str:
    return net.layout.org(who.partition("/")[0]).msp_id


def _summary(s) -> str:
    return (f"{s.id}: owner {s.owner}, key epoch {s.epoch}, readers "
            f"{', '.join(s.readers) or '-'}, writers {', '.join(s.writers.msp_ids)}"
            f"{', shredded ' + ', '.join(map(str, s.shredded)) if s.shredded else ''}"
            f"{'' if s.status == 'active' else ', ' + s.status}")


# -- reading ------------------------------------------------------------------------------
@stream.command("list")
@_state_dir_option
@_as_option("Org1/analyst")
@_json_option
@_format_option
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True,
              help="Show at most this many streams.")
def stream_list(state_dir, who: str, as_json: bool, fmt: str, limit: int) -> None:
    """The channel's streams, in id order."""
    with _contract(state_dir, who) as api:
        streams = _take(api.items(api.list_streams, page_size=min(limit, 100)), limit)
    rows = [{"stream": s.id, "owner": s.owner, "status": s.status, "epoch": s.epoch,
             "schema": f"v{s.schema.version}", "writers": " ".join(s.writers.msp_ids),
             "readers": " ".join(s.readers), "updated": _when(s.updated)} for s in streams]
    _emit("json" if as_json else fmt, [s.raw for s in streams], rows,
          ("stream", "owner", "status", "epoch", "schema", "writers", "readers", "updated"),
          f"{len(streams)} stream(s)")


@stream.command("show")
@_state_dir_option
@click.argument("name")
@_as_option("Org1/analyst")
@_json_option
def stream_show(state_dir, name: str, who: str, as_json: bool) -> None:
    """One stream's definition: schema, writers, readers, key epochs."""
    with _contract(state_dir, who) as api:
        s = api.get_stream(name)
    if as_json:
        return _print_json(s.raw)
    out.print(f"[bold]{s.id}[/bold] · owner {s.owner} · {s.status} · key epoch {s.epoch}"
              f"{' (shredded: ' + ', '.join(map(str, s.shredded)) + ')' if s.shredded else ''}")
    if s.description:
        out.print(s.description, markup=False)
    out.print(f"writers: {', '.join(s.writers.msp_ids)} (roles {', '.join(s.writers.roles)})"
              f" · readers: {', '.join(s.readers) or '-'} · max age {s.max_age_seconds} s")
    out.print(f"created {_when(s.created)} · updated {_when(s.updated)}")
    table = Table(title=f"schema v{s.schema.version}")
    for col in ("field", "type", "unit", "range", "public", "required"):
        table.add_column(col)
    for f in s.schema.fields:
        bounds = "-" if f.min is None and f.max is None else \
            f"{'' if f.min is None else f.min}..{'' if f.max is None else f.max}"
        table.add_row(f.name, f.type, f.unit or "-", bounds, "yes" if f.public else "no",
                      "yes" if f.required else "no")
    out.print(table)
    return None


@stream.command("batches")
@_state_dir_option
@click.argument("name")
@click.option("--source", help="Only this source's batches, in sequence order.")
@_as_option("Org1/auditor")
@_json_option
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
              help="Show at most this many batches.")
def stream_batches(state_dir, name: str, source: str | None, who: str, as_json: bool,
                   limit: int) -> None:
    """A stream's batches (time order, or one source's chain); 'query batches' filters more."""
    from ledgerlake.commands.query import show_batches
    show_batches(state_dir, name, source, None, None, who, "json" if as_json else "table",
                 limit)


# -- managing (the owner organisation's admins) -------------------------------------------
@stream.command("create")
@_state_dir_option
@click.argument("name", required=False)
@click.option("--schema", "schema_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The schema, YAML or JSON: {version, fields: [{name, type, unit, min, max, "
                   "public, required}]}.")
@click.option("--infer-schema", "sample", type=click.Path(dir_okay=False, path_type=Path),
              help="Propose a schema from a sample CSV, JSON Lines or Parquet file (printed "
                   "as YAML, or written with -o); creates nothing.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="With --infer-schema: write the proposal to this file.")
@click.option("--readers", help="Reader organisations, comma-separated (Org1MSP,Org2MSP or "
                                "Org1,Org2) [the owner and the writers].")
@click.option("--writers", help="Writer organisations, comma-separated; each must also be a "
                                "reader [the owner].")
@click.option("--writer-roles", default="producer", show_default=True,
              help="Roles within writer organisations that may submit, comma-separated.")
@click.option("--description", default="", help="What the stream holds.")
@click.option("--max-age", "max_age", type=click.IntRange(1),
              help="How old (seconds) a batch's records may be when submitted.")
@_as_option("Org1/admin")
def stream_create(state_dir, name, schema_file, sample, output, readers, writers,
                  writer_roles, description, max_age, who) -> None:
    """Create stream NAME owned by your organisation: a new data key, wrapped for every
    reader's published key, never written anywhere in clear. An identical existing stream
    is left as it is (exit 0); a different one is an error."""
    from ledgerlake.client.models import Writers
    from ledgerlake.client.streams import create_stream, infer_schema, load_schema, schema_yaml

    if sample is not None:
        if schema_file is not None:
            raise click.UsageError("give --schema FILE or --infer-schema DATAFILE, not both")
        text = schema_yaml(infer_schema(sample))
        if output is None:
            click.echo(text, nl=False)
        else:
            try:
                output.write_text(text)
            except OSError as exc:
                raise ConfigError(f"cannot write the schema to {output}: "
                                  f"{exc.strerror or exc}") from None
            out.print(f"Wrote a proposed schema to {output}; edit it (units, ranges, public "
                      f"fields), then: ledgerlake stream create NAME --schema {output}")
        return
    if output is not None:
        raise click.UsageError("-o/--output goes with --infer-schema")
    if not name or schema_file is None:
        raise click.UsageError("stream create needs NAME and --schema FILE (or "
                               "--infer-schema DATAFILE to propose a schema)")
    schema = load_schema(schema_file)
    net = _network(state_dir)
    owner = _caller_msp(net, who)
    writer_ids = _msps(net, writers) or [owner]
    reader_ids = _msps(net, readers) or sorted({owner, *writer_ids})
    roles = tuple(sorted({r.strip() for r in writer_roles.split(",") if r.strip()}))
    with _contract(state_dir, who) as api:
        made = create_stream(api, name, schema, reader_ids, Writers(tuple(writer_ids), roles),
                             description=description, max_age_seconds=max_age)
    if made.created:
        net.settle()
        out.print(f"Created {_summary(made.stream)}.")
    else:
        out.print(f"Stream {name!r} already exists as asked; nothing changed.")


@stream.command("update")
@_state_dir_option
@click.argument("name")
@click.option("--description", help="A new description.")
@click.option("--writers", help="The writer organisations, comma-separated (each a reader).")
@click.option("--writer-roles", help="Roles within writer organisations, comma-separated "
                                     "(with --writers; default producer).")
@click.option("--schema", "schema_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The next schema (its version one above the current).")
@click.option("--status", type=click.Choice(["active", "closed"]), help="Open or close it.")
@click.option("--max-age", "max_age", type=click.IntRange(1), help="Max record age, seconds.")
@_as_option("Org1/admin")
def stream_update(state_dir, name, description, writers, writer_roles, schema_file, status,
                  max_age, who) -> None:
    """Change a stream's description, writers, schema, status or max age."""
    from ledgerlake.client.models import Writers
    from ledgerlake.client.streams import load_schema, update

    net = _network(state_dir)
    writer_set = None
    if writers is not None:
        roles = tuple(sorted({r.strip() for r in (writer_roles or "producer").split(",")
                              if r.strip()}))
        writer_set = Writers(tuple(_msps(net, writers)), roles)
    elif writer_roles is not None:
        raise click.UsageError("--writer-roles goes with --writers")
    schema = load_schema(schema_file) if schema_file else None
    if all(v is None for v in (description, writer_set, schema, status, max_age)):
        raise click.UsageError("say what to change: --description, --writers, --schema, "
                               "--status or --max-age")
    with _contract(state_dir, who) as api:
        s = update(api, name, description=description, writers=writer_set, schema=schema,
                   status=status, max_age_seconds=max_age, settle=net.settle)
    out.print(f"Updated {_summary(s)}.")


@stream.command("grant")
@_state_dir_option
@click.argument("name")
@click.argument("org")
@_as_option("Org1/admin")
@click.option("--key-as", metavar="ORG/USER",
              help="The owner org's analyst who opens the current data key to wrap it for "
                   "ORG (audited) [ORG of --as, user analyst].")
def stream_grant(state_dir, name, org, who, key_as) -> None:
    """Make ORG (Org2 or Org2MSP) a reader of NAME. When your organisation reads NAME, ORG
    gets the current key epoch (opened by your analyst, audited); otherwise the key is
    rotated first and ORG gets the new epoch."""
    from ledgerlake.client.streams import grant, open_data_keys, org_private_keys

    net = _network(state_dir)
    msp_id, owner = _msp(net, org), _caller_msp(net, who)
    with _contract(state_dir, who) as api:
        current = api.get_stream(name)
    data_key = None
    if current.owner == owner and owner in current.readers and msp_id not in current.readers:
        opener = key_as or f"{who.partition('/')[0]}/analyst"
        keys = org_private_keys(net.org_key_path(opener.partition("/")[0]))
        with _contract(state_dir, opener) as analyst:
            data_key = open_data_keys(analyst, name, f"grant {msp_id} read access",
                                      keys)[current.epoch]
    with _contract(state_dir, who) as api:
        s = grant(api, name, msp_id, data_key=data_key, settle=net.settle)
    how = "" if data_key else f" (key rotated first: {msp_id} reads from epoch {s.epoch})"
    out.print(f"Granted {msp_id}{how}: {_summary(s)}.")


@stream.command("revoke")
@_state_dir_option
@click.argument("name")
@click.argument("org")
@click.option("--no-rotate", is_flag=True,
              help="Do not rotate the key afterwards (what was written under the current "
                   "key stays readable by ORG if it kept the key).")
@_as_option("Org1/admin")
def stream_revoke(state_dir, name, org, no_rotate, who) -> None:
    """Remove reader ORG (its tickets stop working) and rotate the key, so what is written
    next is under a data key ORG never had."""
    from ledgerlake.client.streams import revoke

    net = _network(state_dir)
    msp_id = _msp(net, org)
    with _contract(state_dir, who) as api:
        s = revoke(api, name, msp_id, rotate_key=not no_rotate, settle=net.settle)
    out.print(f"Revoked {msp_id}{'' if no_rotate else ' and rotated the key'}: {_summary(s)}.")


@stream.command("rotate")
@_state_dir_option
@click.argument("name")
@_as_option("Org1/admin")
def stream_rotate(state_dir, name, who) -> None:
    """Open the next key epoch: a new data key wrapped for each current reader."""
    from ledgerlake.client.streams import rotate

    net = _network(state_dir)
    with _contract(state_dir, who) as api:
        s = rotate(api, name, settle=net.settle)
    out.print(f"Rotated: {_summary(s)}.")


@stream.command("shred")
@_state_dir_option
@click.argument("name")
@click.argument("epoch", type=click.IntRange(1))
@_as_option("Org1/admin")
def stream_shred(state_dir, name, epoch, who) -> None:
    """Stop the chaincode releasing EPOCH's keys (a past epoch; rotate first). The blocks
    that granted them still hold the wrapped keys."""
    from ledgerlake.client.streams import shred

    net = _network(state_dir)
    with _contract(state_dir, who) as api:
        s = shred(api, name, epoch, settle=net.settle)
    _progress(f"epoch {epoch} of {name!r} shredded")
    out.print(f"Shredded epoch {epoch}: {_summary(s)}.")
