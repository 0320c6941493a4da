"""Decode one Confluent wire-format record with fastavro and print it as JSON.

Usage: decode_with_fastavro.py SCHEMA.avsc RECORD.bin
"""
import io
import json
import struct
import sys

import fastavro


def main() -> None:
    schema_path, record_path = sys.argv[1], sys.argv[2]
    with open(schema_path, encoding="utf-8") as f:
        schema = fastavro.parse_schema(json.load(f))
    with open(record_path, "rb") as f:
        data = f.read()
    if data[0] != 0:
        sys.exit(f"bad magic byte {data[0]}")
    (schema_id,) = struct.unpack(">I", data[1:5])
    body = io.BytesIO(data[5:])
    record = fastavro.schemaless_reader(body, schema)
    if body.read():
        sys.exit("trailing bytes after the datum")
    json.dump({"schema_id": schema_id, "record": record}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
