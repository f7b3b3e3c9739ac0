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


def test_compose_control_plane_replica_follows_the_same_data_on_its_own_ports(
        monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    control, replica = services["control"], services["control-b"]
    assert replica["profiles"] == ["replicas"] and "profiles" not in control
    assert replica["image"] == control["image"] and replica["volumes"] == control["volumes"]
    env_a, env_b = control["environment"], replica["environment"]
    # the same data, another name, other ports
    for key in ("DATABASE_URL", "REDIS_URL", "AITCOMMS_VAR", "AITCOMMS_INSTANCE"):
        assert env_a[key] == env_b[key], key
    assert (env_a["AITCOMMS_CONTROL_PLANE"], env_b["AITCOMMS_CONTROL_PLANE"]) == ("a", "b")
    settings: dict[str, Settings] = {}
    for name, env in (("a", env_a), ("b", env_b)):
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        settings[name] = Settings.from_env()
        assert settings[name].control_plane == name and settings[name].redis_url
    a, b = settings["a"].ports, settings["b"].ports
    assert {a.http, a.fastagi, a.audiosocket}.isdisjoint({b.http, b.fastagi, b.audiosocket})
    assert str(b.http) in replica["healthcheck"]["test"][-1]


def test_compose_media_host_runs_the_folder_its_follower_writes() -> None:
    """Profile `media-host`: node-files (`aitcomms node files --follow`)
    writes the node's folder into the Asterisk volume as the control image
    mounts it; asterisk-node runs that folder's asterisk.conf, as its own
    root filesystem sees it."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    files, node, own = services["node-files"], services["asterisk-node"], services["asterisk"]
    assert files["profiles"] == node["profiles"] == ["media-host"]
    command = files["command"]
    assert command[:2] == ["node", "files"] and "--follow" in command
    out, root = command[command.index("--out") + 1], command[command.index("--root") + 1]
    folder = "/" + str(Path(out).relative_to(root))
    # the control image sees Asterisk's /srv/aitcomms under its root
    assert f"asterisk-srv:{root}/srv/aitcomms" in files["volumes"]
    assert "asterisk-srv:/srv/aitcomms" in node["volumes"]
    assert _conf_of(node) == f"{folder}/etc/asterisk.conf"
    assert node["entrypoint"] == ["wait-for", _conf_of(node), "--"]
    assert node["image"] == own["image"] and node["restart"] == "unless-stopped"
    # the edge's database, not this host's (none runs here)
    assert files["environment"]["DATABASE_URL"] != services["control"]["environment"][
        "DATABASE_URL"]
    assert "render" not in node["depends_on"]
