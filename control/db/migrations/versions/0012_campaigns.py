"""Outbound campaigns: dialing settings per campaign, calling lists, do-not-call
lists and dial attempts (control.campaigns).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "campaign_dialing",
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("mode", sa.String(12), nullable=False),
        sa.Column("agents", sa.JSON, nullable=False),
        sa.Column("queues", sa.JSON, nullable=False),
        sa.Column("caller_id", sa.String(20), nullable=True),
        sa.Column("hours_start", sa.String(5), nullable=False),
        sa.Column("hours_end", sa.String(5), nullable=False),
        sa.Column("days", sa.JSON, nullable=False),
        sa.Column("retry_rules", sa.JSON, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("ring_s", sa.Integer, nullable=False),
        sa.Column("script", sa.Text, nullable=False),
        sa.Column("dispositions", sa.JSON, nullable=False),
        sa.Column("message", sa.String(120), nullable=True),
        sa.Column("amd", sa.Boolean, nullable=False),
        sa.Column("machine_action", sa.String(12), nullable=False),
        sa.Column("abandon_cap_pct", sa.Float, nullable=False),
        sa.Column("abandon_window_s", sa.Integer, nullable=False),
        sa.Column("running", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
    )
    op.create_table(
        "campaign_list",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("timezone", sa.String(40), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _at("next_attempt_at"),
        sa.Column("last_result", sa.String(12), nullable=True),
        sa.Column("disposition", sa.String(32), nullable=True),
        _at("callback_at"),
        sa.Column("callback_agent", sa.String(16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.UniqueConstraint("campaign_id", "phone"),
    )
    op.create_index("ix_campaign_list_due", "campaign_list",
                    ["campaign_id", "status", "next_attempt_at"])
    op.create_table(
        "do_not_call",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("phone", sa.String(20), nullable=False, index=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("reason", sa.String(120), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.UniqueConstraint("phone", "campaign_id"),
    )
    op.create_table(
        "campaign_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("entry_id", sa.Integer, sa.ForeignKey("campaign_list.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("call_id", sa.String(36), nullable=False, index=True),
        sa.Column("phone", sa.String(20), nullable=False),
        _at("started_at", nullable=False),
        _at("answered_at"),
        _at("connected_at"),
        _at("ended_at"),
        sa.Column("result", sa.String(12), nullable=True),
        sa.Column("abandoned", sa.Boolean, nullable=False),
        sa.Column("amd_status", sa.String(12), nullable=True),
        sa.Column("agent_extension", sa.String(16), nullable=True),
        sa.Column("talk_s", sa.Float, nullable=False),
        sa.Column("disposition", sa.String(32), nullable=True),
    )
    op.create_index("ix_campaign_attempts_started", "campaign_attempts",
                    ["campaign_id", "started_at"])


def downgrade() -> None:
    op.drop_table("campaign_attempts")
    op.drop_table("do_not_call")
    op.drop_index("ix_campaign_list_due", "campaign_list")
    op.drop_table("campaign_list")
    op.drop_table("campaign_dialing")
