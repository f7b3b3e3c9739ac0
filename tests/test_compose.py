"""docker-compose.yml is checked by reading (no Docker engine here): its
Asterisks point at the configs the control plane renders, the stack's own
and a media node's (control/stack/media_nodes.py), under the instance name
the compose file gives the control image."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from control.settings import Settings
from control.stack import media_nodes

ROOT = Path(__file__).resolve().parent.parent


def _conf_of(service: dict[str, object]) -> str:
    command = service["command"]
    assert isinstance(command, list)
    return str(command[command.index("-C") + 1])


def test_compose_asterisks_run_the_configs_the_control_plane_renders(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    control_env = services["control"]["environment"]
    monkeypatch.setenv("AITCOMMS_INSTANCE", control_env["AITCOMMS_INSTANCE"])
    settings = Settings(var_dir=tmp_path)

    own = services["asterisk"]
    assert _conf_of(own) == settings.asterisk_conf
    assert own["entrypoint"] == ["wait-for", settings.asterisk_conf, "--"]
    node = services["asterisk-media2"]
    conf = media_nodes.asterisk_conf(settings, "media2")
    assert _conf_of(node) == conf and node["entrypoint"] == ["wait-for", conf, "--"]
    assert conf in node["healthcheck"]["test"]
    # run only when asked (the profile), from the same image and volume
    assert node["profiles"] == ["nodes"] and "profiles" not in own
    assert node["image"] == own["image"] and node["volumes"] == own["volumes"]
    assert node["restart"] == own["restart"] == "unless-stopped"
