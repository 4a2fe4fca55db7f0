"""``carehub check-config`` warns (exit 0, on stderr; ``warnings`` in --json) about a config
that is valid but unsafe: plain HTTP off loopback, a bearer token or SMART assertion sent to
an ``http://`` URL, a password written into ``amqp_url`` or ``db_url``."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from carehub.cli import cli

SAFE = """\
hub:
  amqp_url: amqp://carehub@mq:5672/%2F
  db_url: postgresql://carehub@db/carehub
  http: {host: 127.0.0.1}
systems:
  billing:
    outbound:
      type: fhir
      url: https://billing.example.org/fhir
      auth: {type: bearer, token_env: BILLING_TOKEN}
    subscribes: ["patient.*"]
  lab:
    outbound: {type: fhir, url: "http://lab.internal/fhir"}
    subscribes: ["patient.*"]
clients:
  app: {token_env: APP_TOKEN, scopes: ["system/*.rs"]}
"""


def check(tmp_path: Path, text: str) -> tuple[int, list[str], str]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["check-config", str(path), "--json"])
    human = CliRunner().invoke(cli, ["check-config", str(path)])
    assert human.exit_code == result.exit_code
    return result.exit_code, json.loads(result.stdout)["warnings"], human.stderr


def test_a_safe_config_has_no_warnings(tmp_path: Path):
    # loopback HTTP, https with a token, plain http without credentials, URLs without passwords
    code, warnings, stderr = check(tmp_path, SAFE)
    assert code == 0 and warnings == [] and "warning" not in stderr


def test_plain_http_off_loopback_is_warned_about_unless_tls_is_configured(tmp_path: Path):
    exposed = SAFE.replace("host: 127.0.0.1", "host: 0.0.0.0")
    code, warnings, stderr = check(tmp_path, exposed)
    assert code == 0
    assert warnings == [
        "hub.http: plain HTTP on 0.0.0.0 (not loopback) without tls: bearer tokens and PHI "
        "cross the network unencrypted; configure hub.http.tls (or bind 127.0.0.1 behind a "
        "TLS proxy)"
    ]
    assert "warning: hub.http: plain HTTP on 0.0.0.0" in stderr
    with_tls = exposed.replace("host: 0.0.0.0}", "host: 0.0.0.0, tls: {cert: c.pem, key: k.pem}}")
    assert check(tmp_path, with_tls)[1] == []


def test_credentials_to_a_plain_http_url_are_warned_about(tmp_path: Path):
    text = SAFE.replace("https://billing.example.org", "http://billing.example.org").replace(
        'url: "http://lab.internal/fhir"}',
        'url: "https://lab.internal/fhir", auth: {type: smart-backend, '
        'token_url: "http://user:pw@idp.internal/token?x=1", client_id: hub, '
        "private_key_env: K}}",
    )
    _, warnings, _ = check(tmp_path, text)
    assert warnings == [
        "systems.billing.outbound.url: bearer credentials over plain http:// "
        "(http://billing.example.org/fhir); use https://",
        "systems.lab.outbound.auth.token_url: smart-backend credentials over plain http:// "
        "(http://idp.internal/token); use https://",
    ]


def test_a_password_in_amqp_url_or_db_url_is_warned_about_without_repeating_it(tmp_path: Path):
    text = SAFE.replace("amqp://carehub@", "amqp://carehub:s3cr3t-amqp@").replace(
        "postgresql://carehub@", "postgresql://carehub:s3cr3t-db@"
    )
    _, warnings, stderr = check(tmp_path, text)
    assert [w.split(":")[0] for w in warnings] == ["hub.amqp_url", "hub.db_url"]
    assert "the URL carries a password" in warnings[0]
    assert "s3cr3t" not in json.dumps(warnings) + stderr
