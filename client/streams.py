"""Stream administration over the typed contract API: what an owner organisation's admin
does (create, update, grant, revoke, rotate, shred), organisation encryption keys (publish
once, rotate), schemas from files or inferred from sample data.

A stream's data key is generated here, wrapped for each reader organisation's published
X25519 key (``GetOrgKey``) and sent only wrapped: it is never written anywhere in clear.

Organisation key rotation (``rotate_org_key``): a new key pair is published and the old
private key is kept as a *retired* key next to the new one (``retired/``), because every
key epoch wrapped so far was wrapped for the old public key and the chaincode cannot
re-wrap it. Then each stream the organisation owns gets a new key epoch wrapped for every
current reader (this organisation's new key among them). Streams other organisations own
keep serving this organisation keys wrapped for the old key until their owners rotate
(``ledgerlake stream rotate NAME``); ``open_data_keys`` unwraps each epoch with whichever
of the current and retired keys opens it.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ledgerlake import records
from ledgerlake.client import encryption
from ledgerlake.client.models import OrgKey, Stream, Writers
from ledgerlake.errors import ConfigError, DecryptionError, EndorseError, RecordError
from ledgerlake.protocol import ErrorCode

#: Called between two submits that may be endorsed by different peers (a local network
#: waits until every peer has the gateway peer's height); ``None``: nothing to wait for.
Settle = Callable[[], None] | None
RETIRED_DIR = "retired"


def _settle(settle: Settle) -> None:
    if settle is not None:
        settle()


def _absent(exc: EndorseError) -> bool:
    return exc.error_code is ErrorCode.NOT_FOUND


# -- schemas ------------------------------------------------------------------------------
def check_schema(value: Any, where: str) -> dict:
    """A schema mapping checked by the record format's rules; ConfigError naming ``where``
    and the field otherwise."""
    try:
        return records.Schema.from_mapping(value).to_mapping()
    except RecordError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_schema(path: str | Path) -> dict:
    """A stream schema from a YAML or JSON file (``{version, fields: [...]}``, or just the
    list of fields); ConfigError naming the file and the field when it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"schema file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"schema file {path} cannot be read ({exc})") from None
    try:
        if path.suffix.lower() == ".json":
            value = records.parse_json(text, f"schema file {path}")
        else:
            value = yaml.safe_load(text)
    except RecordError as exc:
        raise ConfigError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"schema file {path} is not YAML{where}: "
                          f"{getattr(exc, 'problem', None) or exc}") from None
    if isinstance(value, list):
        value = {"version": 1, "fields": value}
    return check_schema(value, f"schema file {path}")


def _field_type(arrow_type, column: str, path: Path) -> str:
    import pyarrow as pa
    t = pa.types
    if t.is_boolean(arrow_type):
        return "bool"
    if t.is_integer(arrow_type):
        return "int"
    if t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return "float"
    if t.is_timestamp(arrow_type) or t.is_date(arrow_type):
        return "timestamp"
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_null(arrow_type):
        return "string"
    raise ConfigError(f"{path}: column {column!r} has type {arrow_type}, which no field type "
                      f"({', '.join(records.FIELD_TYPES)}) holds; leave it out of the sample "
                      f"or flatten it")


def _sample_table(path: Path, rows: int):
    """The first ``rows`` rows of a CSV, JSON Lines or Parquet file, read without loading
    the whole file."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            reader = pq.ParquetFile(path)
            batches = []
            for batch in reader.iter_batches(batch_size=rows):
                batches.append(batch)
                break
            return pa.Table.from_batches(batches, schema=reader.schema_arrow)
        if suffix in (".jsonl", ".ndjson", ".json"):
            with path.open("rb") as f:
                head = b"".join(line for _, line in zip(range(rows), f))
            if not head.strip():
                raise ConfigError(f"{path} holds no records to infer a schema from")
            return pjson.read_json(io.BytesIO(head))
        if suffix in (".csv", ".tsv"):
            options = pcsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            with path.open("rb") as f:  # the header and the first rows
                head = b"".join(line for _, line in zip(range(rows + 1), f))
            return pcsv.read_csv(io.BytesIO(head), parse_options=options)
    except FileNotFoundError:
        raise ConfigError(f"sample file {path} does not exist") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise ConfigError(f"{path} cannot be read as {suffix[1:].upper()}: "
                          f"{str(exc).splitlines()[0]}") from None
    raise ConfigError(f"{path}: cannot infer a schema from a {suffix or 'suffix-less'} file; "
                      f"give a .csv, .jsonl (JSON Lines) or .parquet sample")


def infer_schema(datafile: str | Path, *, sample_rows: int = 10_000) -> dict:
    """A proposed schema from a sample CSV, JSON Lines or Parquet file: one field per
    column, typed by what pyarrow reads (int, float, string, bool, timestamp), required
    when the sample has no empty value, and nothing public (deciding what may be read in
    clear by every channel member is the owner's call)."""
    path = Path(datafile)
    table = _sample_table(path, sample_rows)
    fields = []
    for column in table.schema:
        if not records.NAME.fullmatch(column.name):
            raise ConfigError(f"{path}: column {column.name!r} is not a field name (letters, "
                              f"digits and '_', starting with a letter); rename it")
        field = {"name": column.name, "type": _field_type(column.type, column.name, path)}
        if table.column(column.name).null_count or table.num_rows == 0:
            field["required"] = False
        fields.append(field)
    if not fields:
        raise ConfigError(f"{path} has no columns to infer a schema from")
    return check_schema({"version": 1, "fields": fields}, f"schema inferred from {path}")


def schema_yaml(schema: Mapping) -> str:
    """A schema as YAML for people to edit: each field's non-default properties only."""
    defaults = {"unit": "", "min": None, "max": None, "public": False, "required": True}
    fields = [{k: v for k, v in f.items() if k in ("name", "type") or defaults.get(k) != v}
              for f in check_schema(schema, "schema")["fields"]]
    return yaml.safe_dump({"version": schema.get("version", 1), "fields": fields},
                          sort_keys=False, allow_unicode=True)


# -- organisation keys --------------------------------------------------------------------
def published_key(api, msp_id: str) -> OrgKey | None:
    """``msp_id``'s published encryption key, or None when it has none."""
    try:
        return api.get_org_key(msp_id)
    except EndorseError as exc:
        if _absent(exc):
            return None
        raise


def reader_keys(api, msp_ids: Iterable[str]) -> dict[str, OrgKey]:
    """Each organisation's published key; ConfigError naming those that have none."""
    keys = {m: published_key(api, m) for m in sorted(set(msp_ids))}
    missing = [m for m, k in keys.items() if k is None]
    if missing:
        raise ConfigError(f"{', '.join(missing)} has not published an encryption key, so no "
                          f"data key can be wrapped for it; its admins run 'ledgerlake org "
                          f"rotate-key' (a local network's 'network up' does it)")
    return keys  # type: ignore[return-value]


@dataclass(frozen=True)
class OrgKeyStatus:
    """What ``ensure_org_key`` found: ``registered`` (newly published), ``unchanged``,
    ``mismatch`` (the chain holds another key than the file's) or ``lost`` (the chain holds
    a key but there is no private key file)."""

    msp_id: str
    state: str
    path: Path
    message: str = ""


def ensure_org_key(api, msp_id: str, path: str | Path) -> OrgKeyStatus:
    """Make sure ``msp_id`` (the caller's organisation, as admin) has an encryption key:
    its private key in ``path`` (0600) and its public key published. Idempotent: a key
    already published and matching the file is left alone; another one is reported, never
    replaced (that is ``rotate_org_key``'s job)."""
    path = Path(path)
    on_chain = published_key(api, msp_id)
    if path.exists():
        key = encryption.load_org_key(path)
        pem = encryption.public_pem(key)
        if on_chain is None:
            api.register_org_key(pem)
            return OrgKeyStatus(msp_id, "registered", path)
        if on_chain.public_key.strip() == pem.strip():
            return OrgKeyStatus(msp_id, "unchanged", path)
        return OrgKeyStatus(msp_id, "mismatch", path, (
            f"{msp_id}'s encryption key in {path} is not the one published on the channel; "
            f"data keys wrapped for {msp_id} will not open with it. Run 'ledgerlake org "
            f"rotate-key' for that organisation to publish a new one"))
    if on_chain is not None:
        return OrgKeyStatus(msp_id, "lost", path, (
            f"{msp_id} has a published encryption key but no private key at {path}; run "
            f"'ledgerlake org rotate-key' for that organisation to publish a new one"))
    key = encryption.new_org_key()
    encryption.save_org_key(path, key)  # first, so a failed publish is retried next time
    api.register_org_key(encryption.public_pem(key))
    return OrgKeyStatus(msp_id, "registered", path)


def retired_key_paths(path: str | Path) -> list[Path]:
    """An organisation's retired private keys (newest first), kept by ``rotate_org_key``."""
    folder = Path(path).parent / RETIRED_DIR
    return sorted(folder.glob("*.pem"), reverse=True) if folder.is_dir() else []


def org_private_keys(path: str | Path) -> list[X25519PrivateKey]:
    """The organisation's current private key, then its retired ones (newest first)."""
    return [encryption.load_org_key(p) for p in (Path(path), *retired_key_paths(path))]


@dataclass(frozen=True)
class OrgKeyRotation:
    """What ``rotate_org_key`` did: the new published key, where the old private key was
    kept, the streams it re-keyed (owned by the organisation) and the streams the
    organisation reads whose owners must rotate for it to use the new key."""

    org_key: OrgKey
    retired: Path | None
    rekeyed: tuple[str, ...]
    owners_must_rotate: dict[str, str]  # stream -> owner MSP ID


def rotate_org_key(api, msp_id: str, path: str | Path, *,
                   settle: Settle = None) -> OrgKeyRotation:
    """Publish a new encryption key pair for ``msp_id`` (its admin calling) and re-key every
    active stream it owns (see the module's docstring for what this means for the others)."""
    path = Path(path)
    retired = None
    if path.exists():
        old = encryption.load_org_key(path)
        retired = path.parent / RETIRED_DIR / f"x25519-{time.time_ns()}.pem"
        encryption.save_org_key(retired, old)
    key = encryption.new_org_key()
    tmp = path.with_name(f".{path.name}.new")
    encryption.save_org_key(tmp, key)
    try:
        published = api.register_org_key(encryption.public_pem(key))
    except BaseException:  # not published: the old key stays the one in use
        tmp.unlink(missing_ok=True)
        if retired is not None:
            retired.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    _settle(settle)
    rekeyed, others = [], {}
    for stream in list(api.items(api.list_streams)):
        if msp_id not in stream.readers or stream.status != "active":
            continue
        if stream.owner == msp_id:
            rotate(api, stream.id, settle=settle)
            rekeyed.append(stream.id)
        else:
            others[stream.id] = stream.owner
    return OrgKeyRotation(published, retired, tuple(rekeyed), others)


def open_data_keys(api, stream_id: str, purpose: str,
                   org_keys: Sequence[X25519PrivateKey], **scope) -> dict[int, bytes]:
    """The stream's data keys by epoch (an audited ``OpenStream`` + ``GetStreamKeys`` as an
    analyst), each unwrapped with the first of ``org_keys`` that opens it (the current key,
    then retired ones). DecryptionError when none opens an epoch."""
    if not org_keys:
        raise ConfigError("open_data_keys needs at least one organisation private key")
    ticket = api.open_stream(stream_id, purpose, **scope)
    wrapped = api.get_stream_keys(stream_id, ticket)
    keys = {}
    for epoch, blob in wrapped.wrapped_keys.items():
        for i, org_key in enumerate(org_keys):
            try:
                keys[epoch] = encryption.unwrap_key(blob, org_key, stream=stream_id,
                                                    epoch=epoch, msp_id=wrapped.msp_id)
                break
            except DecryptionError:
                if i == len(org_keys) - 1:
                    raise
    return keys


# -- streams ------------------------------------------------------------------------------
def _wrap_all(keys: Mapping[str, OrgKey], data_key: bytes, stream: str, epoch: int) -> dict:
    return {m: k.wrap(data_key, stream=stream, epoch=epoch) for m, k in keys.items()}


def _same_definition(stream: Stream, schema: Mapping, readers: Sequence[str],
                     writers: Writers, description: str) -> list[str]:
    """What differs between an existing stream and the one asked for (names only)."""
    diff = []
    if stream.schema.to_mapping() != schema:
        diff.append("schema")
    if tuple(sorted(stream.readers)) != tuple(sorted(set(readers))):
        diff.append("readers")
    if sorted(stream.writers.msp_ids) != sorted(set(writers.msp_ids)) or \
            sorted(stream.writers.roles) != sorted(set(writers.roles)):
        diff.append("writers")
    if stream.description != description:
        diff.append("description")
    return diff


@dataclass(frozen=True)
class Created:
    stream: Stream
    created: bool  # False: an identical stream already existed


def create_stream(api, name: str, schema: Mapping | records.Schema, readers: Sequence[str],
                  writers: Sequence[str] | Writers, *, description: str = "",
                  max_age_seconds: int | None = None) -> Created:
    """Create stream ``name`` (the caller, an admin, owns it): a new data key, wrapped for
    every reader organisation's published key. Idempotent: an identical existing stream is
    returned with ``created=False``; a different one is a ConfigError naming what differs."""
    records.check_identifier(name, "stream name")
    mapping = check_schema(schema.to_mapping() if isinstance(schema, records.Schema)
                           else schema, "schema")
    who_writes = writers if isinstance(writers, Writers) else Writers(tuple(writers))
    try:
        existing = api.get_stream(name)
    except EndorseError as exc:
        if not _absent(exc):
            raise
        existing = None
    if existing is not None:
        diff = _same_definition(existing, mapping, readers, who_writes, description)
        caller = getattr(getattr(api.contract.network.gateway, "identity", None), "msp_id",
                         existing.owner)
        if existing.owner != caller:
            diff.insert(0, f"owner ({existing.owner})")
        if diff:
            raise ConfigError(f"stream {name!r} already exists with another "
                              f"{', '.join(diff)}; use 'stream update' or another name")
        return Created(existing, False)
    keys = reader_keys(api, readers)
    data_key = encryption.new_data_key()
    stream = api.create_stream(name, mapping, readers=sorted(keys), writers=who_writes,
                               wrapped_keys=_wrap_all(keys, data_key, name, 1),
                               description=description, max_age_seconds=max_age_seconds)
    return Created(stream, True)


def rotate(api, stream_id: str, *, settle: Settle = None) -> Stream:
    """Open the stream's next key epoch: a new data key wrapped for each current reader's
    published key (a revoked organisation gets nothing of it)."""
    stream = api.get_stream(stream_id)
    keys = reader_keys(api, stream.readers)
    data_key = encryption.new_data_key()
    rotated = api.rotate_key(stream_id, _wrap_all(keys, data_key, stream_id, stream.epoch + 1))
    _settle(settle)
    return rotated


def grant(api, stream_id: str, msp_id: str, *, data_key: bytes | None = None,
          settle: Settle = None) -> Stream:
    """Make ``msp_id`` a reader. With the current epoch's ``data_key`` (an owner that reads
    its stream gets it with ``open_data_keys``) the new reader gets that epoch; without it,
    the key is rotated first and the new reader gets the new epoch only."""
    records.check_identifier(msp_id, "MSP ID")
    org_key = reader_keys(api, [msp_id])[msp_id]
    stream = api.get_stream(stream_id)
    if data_key is None:
        if msp_id in stream.readers:  # checked before rotating for nothing
            raise ConfigError(f"{msp_id} already reads stream {stream_id!r}")
        data_key = encryption.new_data_key()
        keys = reader_keys(api, stream.readers)
        stream = api.rotate_key(stream_id, _wrap_all(keys, data_key, stream_id,
                                                     stream.epoch + 1))
        _settle(settle)
    granted = api.grant_reader(stream_id, msp_id,
                               org_key.wrap(data_key, stream=stream_id, epoch=stream.epoch))
    _settle(settle)
    return granted


def revoke(api, stream_id: str, msp_id: str, *, rotate_key: bool = True,
           settle: Settle = None) -> Stream:
    """Remove reader ``msp_id`` (its tickets stop working) and, by default, rotate the key
    so what is written next is under a data key it never had."""
    revoked = api.revoke_reader(stream_id, msp_id)
    _settle(settle)
    return rotate(api, stream_id, settle=settle) if rotate_key else revoked


def shred(api, stream_id: str, epoch: int, *, settle: Settle = None) -> Stream:
    """Stop the chaincode releasing a past epoch's keys (the blocks keep the wrapped keys)."""
    shredded = api.shred_epoch(stream_id, epoch)
    _settle(settle)
    return shredded


def update(api, stream_id: str, *, description: str | None = None,
           writers: Sequence[str] | Writers | None = None,
           schema: Mapping | None = None, status: str | None = None,
           max_age_seconds: int | None = None, settle: Settle = None) -> Stream:
    """Change a stream's description, writers, schema (its next version), status or max
    age. A writer organisation must be a reader (grant it first)."""
    if writers is not None and not isinstance(writers, Writers):
        writers = Writers(tuple(writers))
    if schema is not None:
        schema = check_schema(schema, "schema")
    updated = api.update_stream(stream_id, description=description, writers=writers,
                                schema=schema, status=status, max_age_seconds=max_age_seconds)
    _settle(settle)
    return updated
