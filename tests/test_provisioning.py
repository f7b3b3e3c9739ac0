"""Rendering configs from data, and the checks in front of it (no stack needed)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from control.acd.agents import sip_ha1
from control.acd.models import Agent
from control.errors import InvalidInput
from control.ivr.flows import FlowError, load_flow, load_flows
from control.provisioning import render
from control.provisioning.models import Did, Trunk
from control.provisioning.targets import TargetError, target_context
from control.provisioning.trunks import normalise_did
from control.secrets import ensure_secrets
from control.settings import PROJECT_ROOT, Settings


def _data() -> render.StackData:
    agents = [Agent(extension="1001", name='Ana "la jefa" García;x', skills=["auto"],
                    languages=["es"], sip_ha1=sip_ha1("1001", "r", "pw"))]
    trunks = [Trunk(name="carrier", host="127.0.0.2", address="127.0.0.2", port=5060)]
    dids = [Did(number="+34910000001", target="ivr:welcome"),
            Did(number="+34910000002", target="ext:1001")]
    flows = load_flows(PROJECT_ROOT / "dialplans" / "ivr")
    return render.StackData(agents, trunks, [], dids, flows)


def _render(tmp_path: Path, database_url: str | None = None) -> dict[str, str]:
    settings = Settings(var_dir=tmp_path / "var", rootfs=tmp_path / "rootfs",
                        database_url_env=database_url)
    files = render.render_all(settings, {"AMI_PASSWORD": "a", "ARI_PASSWORD": "b",
                                         "JWT_SECRET": "c"}, _data())
    render.write(files)
    return {f.path.name: f.text for f in files}


def test_render_agents_trunks_dids(tmp_path: Path) -> None:
    out = _render(tmp_path)
    pjsip = out["pjsip.conf"]
    assert "[agent-1001](media)" in pjsip
    assert 'callerid = "Ana la jefa Garcíax" <1001>' in pjsip  # quotes and ; cannot break out
    assert "contact = sip:127.0.0.2:5060" in pjsip
    ext = out["extensions.conf"]
    assert "exten => +34910000001,1" in ext and "Goto(ivr-welcome,s,1)" in ext
    assert "Goto(agents,1001,1)" in ext and "Dial(PJSIP/agent-1001,30)" in ext
    assert "[ivr-welcome]" in ext and "Playback(hello-world)" in ext
    assert "bindaddr = 127.0.0.1" in out["manager.conf"]
    assert "bindaddr = 127.0.0.1" in out["http.conf"]
    # writing again changes nothing
    assert render.write(render.render_all(
        Settings(var_dir=tmp_path / "var", rootfs=tmp_path / "rootfs"),
        {"AMI_PASSWORD": "a", "ARI_PASSWORD": "b", "JWT_SECRET": "c"}, _data())) == []


@pytest.mark.parametrize("database_url", [None, "postgresql://u:p@127.0.0.1:5432/aitcomms"])
def test_rendered_kamailio_config_passes_kamailio_check(tmp_path: Path,
                                                        database_url: str | None) -> None:
    _render(tmp_path, database_url)
    cfg = tmp_path / "var" / "kamailio" / "kamailio.cfg"
    proc = subprocess.run(["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = "db_postgres.so" if database_url else "db_sqlite.so"
    assert expected in cfg.read_text()


def test_targets() -> None:
    assert target_context("ext:1001") == "agents,1001,1"
    assert target_context("ivr:welcome") == "ivr-welcome,s,1"
    for bad in ("ext:", "1001", "ivr:a b", "phone:1"):
        with pytest.raises(TargetError):
            target_context(bad)


def test_did_numbers_are_e164() -> None:
    assert normalise_did("+34 910 00 00 01") == "+34910000001"
    for bad in ("12345", "+1", "hello", "+34 12"):
        with pytest.raises(InvalidInput) as err:
            normalise_did(bad)
        assert err.value.field == "number"


@pytest.mark.parametrize("text, reason", [
    ("name: [x", "not valid YAML"),
    ("- a\n- b\n", "expected a mapping"),
    ("name: Bad Name\nsteps: [{answer: {}}]", "name must be"),
    ("name: x\nlanguage: fr\nsteps: [{answer: {}}]", "language"),
    ("name: x\nsteps: []", "non-empty"),
    ("name: x\nsteps: [{dance: {}}]", "unknown step 'dance'"),
    ("name: x\nsteps: [{play: 'a;b'}]", "sound name"),
])
def test_broken_ivr_flows_are_refused_with_the_reason(tmp_path: Path, text: str,
                                                     reason: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(FlowError) as err:
        load_flow(path)
    assert reason in str(err.value) and "broken.yaml" in str(err.value)


def test_secrets_generated_once_private(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    first = ensure_secrets(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len({first["AMI_PASSWORD"], first["ARI_PASSWORD"], first["JWT_SECRET"]}) == 3
    assert ensure_secrets(path) == first
    # a secret missing from the file is added; the others are kept
    path.write_text(f"AMI_PASSWORD={first['AMI_PASSWORD']}\n")
    again = ensure_secrets(path)
    assert again["AMI_PASSWORD"] == first["AMI_PASSWORD"]
    assert again["ARI_PASSWORD"] and again["ARI_PASSWORD"] != first["ARI_PASSWORD"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
