"""Config loading: valid files load; every mistake names the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_config, parse_config, secret
from hub.errors import ConfigError

GOOD = """\
hub:
  namespace: clinic
  retry_delays: [1, 10]
systems:
  ehr:
    inbound:
      - type: mllp
        port: 2575
  billing:
    outbound:
      type: fhir
      url: http://127.0.0.1:9000/fhir
      auth: {type: bearer, token_env: BILLING_TOKEN}
    subscribes: ["patient.*", "claim.#"]
clients:
  app: {token_env: APP_TOKEN, scopes: ["system/Patient.rs"]}
"""


def test_a_good_config_loads_with_destinations_and_ports():
    cfg = parse_config(GOOD, "clinic.yaml")
    assert cfg.hub.namespace == "clinic"
    assert cfg.destinations() == {"billing": ["patient.*", "claim.#"]}
    assert cfg.systems["ehr"].inbound[0].port == 2575  # type: ignore[union-attr]
    assert cfg.source == "clinic.yaml"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "url: http://127.0.0.1:9000/fhir",
            "uri: http://x",
            "clinic.yaml:12: systems.billing.outbound.uri: unknown key",
        ),
        (
            "port: 2575",
            "port: lots",
            "clinic.yaml:8: systems.ehr.inbound.0.port: Input should be a valid integer",
        ),
        ('"claim.#"', '"claim..x"', "clinic.yaml:14: systems.billing.subscribes"),
        ("namespace: clinic", "namespace: Clinic!", "clinic.yaml:2: hub.namespace"),
        ("type: mllp", "type: carrier-pigeon", "clinic.yaml:7: systems.ehr.inbound.0"),
        ("  ehr:", "  EHR system:", "clinic.yaml:5: systems.EHR system"),
    ],
)
def test_mistakes_name_file_line_and_key(old: str, new: str, expected: str):
    with pytest.raises(ConfigError) as err:
        parse_config(GOOD.replace(old, new, 1), "clinic.yaml")
    assert expected in str(err.value)


def test_subscribing_without_an_outbound_endpoint_is_an_error():
    text = GOOD.replace(
        "    outbound:\n      type: fhir\n      url: http://127.0.0.1:9000/fhir\n"
        "      auth: {type: bearer, token_env: BILLING_TOKEN}\n",
        "",
    )
    with pytest.raises(
        ConfigError,
        match=r"clinic.yaml:10: systems.billing.subscribes: .*no "
        "outbound",
    ):
        parse_config(text, "clinic.yaml")


def test_broken_yaml_names_the_line():
    with pytest.raises(ConfigError, match=r"bad.yaml:3: not valid YAML"):
        parse_config("hub:\n  name: x\n  - item\n", "bad.yaml")


def test_missing_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BILLING_TOKEN", "s3cret")
    assert secret("BILLING_TOKEN", "systems.billing.outbound.auth") == "s3cret"
    monkeypatch.delenv("BILLING_TOKEN")
    with pytest.raises(
        ConfigError,
        match="systems.billing.outbound.auth: environment variable BILLING_TOKEN is not set",
    ):
        secret("BILLING_TOKEN", "systems.billing.outbound.auth")


def test_overrides_from_the_command_line_win():
    cfg = parse_config(GOOD).with_overrides(db_url="sqlite:///x.db", amqp_url=None)
    assert cfg.hub.db_url == "sqlite:///x.db" and cfg.hub.amqp_url is None


def test_the_readme_configuration_reference_parses(monkeypatch):
    """The example in the README's configuration reference is a valid config as printed."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Configuration reference") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    for var in ("BILLING_APP_TOKEN", "PAYER_GW_TOKEN", "OPS_TOKEN"):
        monkeypatch.setenv(var, "t")
    cfg = parse_config(block.group(1), "README.md")
    assert cfg.ownership["Patient"]["names"] == "ehr"
    assert [r.action for r in cfg.matching.patient] == ["link", "review"]


def test_reused_control_id_is_process_unless_a_port_says_reject():
    cfg = parse_config(GOOD, "clinic.yaml")
    assert cfg.systems["ehr"].inbound[0].reused_control_id == "process"  # type: ignore[union-attr]
    strict = GOOD.replace("port: 2575", "port: 2575\n        reused_control_id: reject", 1)
    port = parse_config(strict, "clinic.yaml").systems["ehr"].inbound[0]
    assert port.reused_control_id == "reject"  # type: ignore[union-attr]
    wrong = GOOD.replace("port: 2575", "port: 2575\n        reused_control_id: sometimes", 1)
    with pytest.raises(ConfigError) as err:
        parse_config(wrong, "clinic.yaml")
    assert "clinic.yaml:9: systems.ehr.inbound.0.reused_control_id" in str(err.value)
    assert "'process' or 'reject'" in str(err.value)
