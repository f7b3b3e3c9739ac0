"""Spike: turn the project's rendered kamailio.cfg (one Asterisk) into one that
spreads calls over N media nodes with Kamailio's dispatcher module.

Throwaway (docs/scale-out.md explains what the real build renders instead).
Every edit names the text it replaces and fails loudly if that text moved.

    python dispatcher_cfg.py IN.cfg OUT.cfg LIST_FILE --node sip:127.0.0.1:30080 \
        --node sip:127.0.0.1:30580 [--alg 10] [--ping-interval 2] [--probing-threshold 1]
        [--inactive-threshold 1] [--invite-timeout-ms 1000] [--mark-on-failure]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def replace(text: str, old: str, new: str, count: int = 1) -> str:
    found = text.count(old)
    if found != count:
        raise SystemExit(f"expected {count} of {old!r} in the rendered config, found {found}")
    return text.replace(old, new)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("list_file")
    ap.add_argument("--node", action="append", required=True, help="sip:IP:PORT of a node")
    ap.add_argument("--alg", type=int, default=10, help="4 round-robin, 9 weight, 10 call-load")
    ap.add_argument("--weights", default="", help="comma list for --alg 9 (sum 100)")
    ap.add_argument("--ping-interval", type=int, default=2)
    ap.add_argument("--probing-threshold", type=int, default=1)
    ap.add_argument("--inactive-threshold", type=int, default=1)
    ap.add_argument("--ping-timeout-ms", type=int, default=0,
                    help="fr_timer of the OPTIONS pings (0: tm's global fr_timer, 4000 here)")
    ap.add_argument("--invite-timeout-ms", type=int, default=0,
                    help="0: tm's fr_timer (4000 here); else t_set_fr for INVITEs to a node")
    ap.add_argument("--mark-on-failure", action="store_true",
                    help="a node that timed out or sent 5xx is marked inactive+probing at once")
    a = ap.parse_args()

    weights = [int(w) for w in a.weights.split(",")] if a.weights else []
    lines = ["# setid destination flags priority attrs (rendered by the spike)"]
    for i, node in enumerate(a.node):
        attrs = f"duid=node{i + 1};maxload=0"
        if weights:
            attrs += f";weight={weights[i]}"
        # flags 8: probing from the start; priority: list order for failover
        lines.append(f"1 {node} 8 {len(a.node) - i} {attrs}")
    Path(a.list_file).write_text("\n".join(lines) + "\n")

    cfg = Path(a.src).read_text()
    cfg = replace(cfg, 'loadmodule "tmx.so"\n', 'loadmodule "tmx.so"\nloadmodule "dispatcher.so"\n')
    ping_timer = ""
    if a.ping_timeout_ms:
        # tm's fr_timer is global: a short one for pings is also a short one for every
        # other non-INVITE (and INVITE without 1xx) transaction unless set per route
        ping_timer = f'modparam("tm", "fr_timer", {a.ping_timeout_ms})\n'
        cfg = replace(cfg, 'modparam("tm", "fr_timer", 4000)\n', "")
    anchor = 'modparam("rr", "enable_full_lr", 1)\n'
    cfg = replace(cfg, anchor, f'''modparam("rr", "enable_full_lr", 1)
{ping_timer}
# Media nodes (spike): destination set 1, probed with OPTIONS
modparam("dispatcher", "list_file", "{a.list_file}")
modparam("dispatcher", "flags", 2)            # failover: the other nodes kept in XAVPs
modparam("dispatcher", "ds_ping_method", "OPTIONS")
modparam("dispatcher", "ds_ping_from", "sip:dispatcher@aitcomms.local")
modparam("dispatcher", "ds_ping_interval", {a.ping_interval})
modparam("dispatcher", "ds_probing_mode", 1)  # probe every node, always
modparam("dispatcher", "ds_probing_threshold", {a.probing_threshold})
modparam("dispatcher", "ds_inactive_threshold", {a.inactive_threshold})
modparam("dispatcher", "ds_ping_reply_codes", "class=2")
modparam("dispatcher", "ds_hash_size", 8)     # needed by alg 10 (call load)
modparam("dispatcher", "ds_hash_initexpire", 60)
modparam("dispatcher", "ds_hash_expire", 7200)
modparam("dispatcher", "reload_delta", 1)
''')
    # Asterisk is any node of set 1 (source address and port)
    cfg = replace(cfg, "\tif ($si == ASTERISK_IP && $sp == ASTERISK_PORT) {\n\t\treturn;\n\t}",
                  '\tif (ds_is_from_list("1")) {\n\t\treturn;\n\t}')
    cfg = replace(cfg, "\tif ($si != ASTERISK_IP || $sp != ASTERISK_PORT) {\n\t\treturn -1;",
                  '\tif (!ds_is_from_list("1")) {\n\t\treturn -1;')
    cfg = replace(cfg, "\tif ($si == ASTERISK_IP && $sp == ASTERISK_PORT) {\n\t\trtpengine_manage",
                  '\tif (ds_is_from_list("1")) {\n\t\trtpengine_manage')
    # call load (alg 10): BYE/CANCEL free a node's slot
    cfg = replace(cfg, "\tif (loose_route()) {\n\t\thandle_ruri_alias();",
                  "\tif (loose_route()) {\n\t\tif (is_method(\"BYE|CANCEL\")) {\n"
                  "\t\t\tds_load_update();\n\t\t}\n\t\thandle_ruri_alias();")
    invite_timer = (f"\tt_set_fr(60000, {a.invite_timeout_ms});  # no 1xx from the node within "
                    f"this: next node\n" if a.invite_timeout_ms else "")
    mark = ('\t\tds_mark_dst("ip");  # inactive + probing now: the next caller skips it\n'
            if a.mark_on_failure else "")
    cfg = replace(cfg, "route[TO_ASTERISK] {\n\t$du = ASTERISK_URI;\n\troute(RELAY);\n\texit;\n}",
                  f'''route[TO_ASTERISK] {{
	if (!ds_select_dst("1", "{a.alg}")) {{
		xlog("L_ERR", "no media node up for $ci\\n");
		sl_send_reply("503", "No media node");
		exit;
	}}
	xlog("L_INFO", "call $ci -> $du (alg {a.alg})\\n");
{invite_timer}	t_on_failure("DS_NEXT");
	route(RELAY);
	exit;
}}

# A node that did not answer in time, or said 5xx: the next one, once each.
failure_route[DS_NEXT] {{
	if (t_is_canceled()) {{
		exit;
	}}
	if (t_check_status("500|503|408") || (t_branch_timeout() && !t_branch_replied())) {{
		xlog("L_WARN", "node $du failed $ci ($T_reply_code) at $TV(Sn)\\n");
{mark}		# alg 10: ds_next_dst() moves this call's load to the next node itself
		# (a ds_load_unset() before it makes ds_next_dst() fail: "cannot find load")
		if (ds_next_dst()) {{
			xlog("L_WARN", "call $ci retried on $du\\n");
{invite_timer.replace(chr(9), chr(9) * 3)}			t_on_failure("DS_NEXT");
			route(RELAY);
			exit;
		}}
	}}
	ds_load_unset();
}}

event_route[dispatcher:dst-down] {{
	xlog("L_ALERT", "DSDOWN $ru at $TV(Sn)\\n");
}}

event_route[dispatcher:dst-up] {{
	xlog("L_ALERT", "DSUP $ru at $TV(Sn)\\n");
}}''')
    cfg = replace(cfg, "onreply_route[REPLY] {\n",
                  "onreply_route[REPLY] {\n"
                  "\tif (is_method(\"INVITE\") && status =~ \"2[0-9][0-9]\") {\n"
                  "\t\tds_load_update();\n\t}\n")
    Path(a.dst).write_text(cfg)


if __name__ == "__main__":
    main()
