"""``python -m bench``: every benchmark in one run; the last line printed is one JSON object
holding every figure.

    python -m bench            # full sizes
    python -m bench --quick    # about a minute

Needs RabbitMQ (CAREHUB_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672/%2F) and
PostgreSQL (CAREHUB_PG_URL, default postgresql://postgres@127.0.0.1:5432/test) for the
figures that use them; a missing service is reported as such, not as a number.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

AMQP_URL = os.environ.get("CAREHUB_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PG_URL = os.environ.get("CAREHUB_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def say(text: str) -> None:
    print(text, flush=True)


async def _section(
    results: dict[str, Any], name: str, fn: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any] | None:
    started = time.perf_counter()
    try:
        value = await fn()
    except Exception as exc:  # a benchmark that cannot run is reported, not hidden
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        say(f"  {name}: could not run ({type(exc).__name__}: {exc})")
        return None
    value["seconds"] = round(time.perf_counter() - started, 1)
    results[name] = value
    return value


async def _fresh_pg_db() -> str:
    import uuid

    import asyncpg

    name = f"carehub_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{PG_URL.rsplit('/', 1)[0]}/{name}"


async def _drop_pg_db(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def run(quick: bool) -> dict[str, Any]:
    from bench.broker import broker_baseline
    from bench.e2e import adt_end_to_end
    from bench.fhir_api import fhir_latency
    from bench.hl7v2_codec import adt_corpus, codec_rates
    from bench.mllp_latency import ack_latency as mllp_ack_latency
    from bench.sync_bench import sync_rate
    from bench.x12_bench import x12_rates

    results: dict[str, Any] = {
        "quick": quick,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    n_broker = 5000 if quick else 20000
    n_adt = 300 if quick else 2000
    conns = 4

    say("broker baseline (raw pika vs carehub transport, 1 KiB persistent, confirms)")
    base = await _section(results, "broker", lambda: broker_baseline(AMQP_URL, n_broker))
    if base:
        say(
            f"  raw publish {base['raw_publish_per_s']:,.0f}/s  consume "
            f"{base['raw_consume_per_s']:,.0f}/s  | transport publish "
            f"{base['transport_publish_per_s']:,.0f}/s  consume "
            f"{base['transport_consume_per_s']:,.0f}/s"
        )

    say("HL7 v2 codec on the corpus ADT messages (one core)")
    codec = await _section(
        results, "hl7v2_codec", lambda: _codec(codec_rates, adt_corpus(), 1.0 if quick else 3.0)
    )
    if codec:
        say(
            "  "
            + "  ".join(
                f"{k} {v:,.0f}/s"
                for k, v in codec.items()
                if isinstance(v, (int, float)) and k != "seconds"
            )
        )

    baseline = base["raw_publish_per_s"] if base else None
    combos = [
        ("embedded+sqlite", None, None),
        ("rabbitmq+sqlite", AMQP_URL, None),
        ("rabbitmq+postgresql", AMQP_URL, "pg"),
    ]
    for label, amqp, db in combos:
        say(f"ADT^A04 end to end, {label}: {n_adt} messages over {conns} MLLP connections")
        pg = await _fresh_pg_db() if db == "pg" else None
        try:
            e2e = await _section(
                results,
                f"adt_e2e[{label}]",
                lambda a=amqp, d=pg: adt_end_to_end(
                    n=n_adt, connections=conns, db_url=d, amqp_url=a
                ),
            )
        finally:
            if pg:
                await _drop_pg_db(pg)
        if e2e:
            ratio = f" = {e2e['ack_per_s'] / baseline:.3f} x raw publish" if baseline else ""
            e2e["ack_ratio_to_raw_publish"] = (
                round(e2e["ack_per_s"] / baseline, 4) if baseline else None
            )
            say(
                f"  acknowledged {e2e['ack_per_s']:,.0f} msg/s{ratio}; delivered end to end "
                f"{e2e['end_to_end_msg_per_s']:,.0f} msg/s ({e2e['deliveries_per_s']:,.0f} "
                "FHIR deliveries/s)"
            )
    n_sync = 1000 if quick else 5000
    for label, db in (("rabbitmq+postgresql", "pg"), ("rabbitmq+sqlite", None)):
        say(f"sync engine, {label}: {n_sync} canonical events straight into the ingress queue")
        pg = await _fresh_pg_db() if db == "pg" else None
        tmp = None if pg else tempfile.mkdtemp(prefix="carehub-bench-")
        url = pg or f"sqlite:///{tmp}/sync.db"
        try:
            sync = await _section(
                results,
                f"sync[{label}]",
                lambda u=url: sync_rate(n=n_sync, amqp_url=AMQP_URL, db_url=u),
            )
        finally:
            if pg:
                await _drop_pg_db(pg)
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
        if sync:
            raw = base["raw_consume_per_s"] if base else None
            sync["ratio_to_raw_consume"] = round(sync["events_per_s"] / raw, 4) if raw else None
            against = f" = {sync['ratio_to_raw_consume']:.3f} x raw consume" if raw else ""
            say(f"  {sync['events_per_s']:,.0f} events/s{against}; decisions {sync['outcomes']}")

    say("FHIR API latency (embedded transport + SQLite, through the real HTTP stack)")
    fhir = await _section(results, "fhir_api", lambda: fhir_latency(quick))
    if fhir:
        say(
            f"  create p50 {fhir['create']['p50_ms']} ms p99 {fhir['create']['p99_ms']} ms; "
            f"50-entry transaction p50 {fhir['transaction_50']['p50_ms']} ms "
            f"p99 {fhir['transaction_50']['p99_ms']} ms"
        )

    say("MLLP ACK latency of a small ADT^A04 while other connections send big messages")
    mllp = await _section(
        results, "mllp_latency", lambda: mllp_ack_latency(rounds=1 if quick else 3)
    )
    if mllp:
        say(
            "  max ms: "
            + "  ".join(
                f"{k} {v['max_ms']:,.0f}"
                for k, v in mllp.items()
                if isinstance(v, dict) and "max_ms" in v
            )
        )

    say("X12 837P: parse + 999 + per-claim events vs pyx12 validation; streaming memory")
    x12 = await _section(results, "x12", lambda: asyncio.to_thread(x12_rates, quick))
    if x12:
        say("  " + json.dumps({k: v for k, v in x12.items() if k != "seconds"})[:400])
    return results


async def _codec(fn: Any, paths: Any, seconds: float) -> dict[str, Any]:
    return dict(await asyncio.to_thread(fn, paths, seconds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.quick))
    line = json.dumps(results, separators=(",", ":"))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
