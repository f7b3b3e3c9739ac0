"""CRM and API users: customers (and their phone index), policies, claims,
quotes, interactions, tasks; users, refresh tokens, audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _created_at() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(160), nullable=False),
        sa.Column("name_search", sa.String(160), nullable=False),
        sa.Column("phones", sa.JSON, nullable=False),
        sa.Column("email", sa.String(255), nullable=True),
        sa.Column("dni", sa.String(9), nullable=True, unique=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("segment", sa.String(16), nullable=False),
        sa.Column("address", sa.JSON, nullable=True),
        sa.Column("tags", sa.JSON, nullable=False),
        _created_at(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
    )
    op.create_index("ix_customers_name_search", "customers", ["name_search"])
    op.create_index("ix_customers_email", "customers", ["email"])

    op.create_table(
        "customer_phones",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer,
                  sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
    )
    op.create_index("ix_customer_phones_customer_id", "customer_phones", ["customer_id"])
    op.create_index("ix_customer_phones_number", "customer_phones", ["number"])

    op.create_table(
        "policies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(40), nullable=False, unique=True),
        sa.Column("customer_id", sa.Integer,
                  sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("carrier", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("premium", sa.Numeric(10, 2), nullable=False),
        sa.Column("payment_frequency", sa.String(16), nullable=False),
        sa.Column("coverage", sa.JSON, nullable=False),
        sa.Column("vehicle", sa.JSON, nullable=True),
        sa.Column("property", sa.JSON, nullable=True),
        _created_at(),
    )
    op.create_index("ix_policies_customer_id", "policies", ["customer_id"])

    op.create_table(
        "claims",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(40), nullable=False, unique=True),
        sa.Column("customer_id", sa.Integer,
                  sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("policy_id", sa.Integer,
                  sa.ForeignKey("policies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("incident_date", sa.Date, nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("claimed_amount", sa.Numeric(10, 2), nullable=True),
        sa.Column("approved_amount", sa.Numeric(10, 2), nullable=True),
        sa.Column("paid_amount", sa.Numeric(10, 2), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_claims_customer_id", "claims", ["customer_id"])
    op.create_index("ix_claims_policy_id", "claims", ["policy_id"])

    op.create_table(
        "quotes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(40), nullable=False, unique=True),
        sa.Column("customer_id", sa.Integer,
                  sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("product_type", sa.String(16), nullable=False),
        sa.Column("carrier", sa.String(80), nullable=True),
        sa.Column("premium", sa.Numeric(10, 2), nullable=False),
        sa.Column("premium_breakdown", sa.JSON, nullable=False),
        sa.Column("competitor_prices", sa.JSON, nullable=False),
        sa.Column("valid_until", sa.Date, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("policy_id", sa.Integer,
                  sa.ForeignKey("policies.id", ondelete="SET NULL"), nullable=True),
        sa.Column("call_id", sa.String(36), nullable=True),
        sa.Column("agent_extension", sa.String(16), nullable=True),
        _created_at(),
    )
    op.create_index("ix_quotes_customer_id", "quotes", ["customer_id"])

    op.create_table(
        "interactions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer,
                  sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        # calls.id of the ACD: no foreign key, the ACD's tables migrate on their own
        sa.Column("call_id", sa.String(36), nullable=True),
        sa.Column("agent_extension", sa.String(16), nullable=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("disposition", sa.String(40), nullable=True),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("recording", sa.String(255), nullable=True),
    )
    op.create_index("ix_interactions_call_id", "interactions", ["call_id"])
    op.create_index("ix_interactions_customer_started", "interactions",
                    ["customer_id", "started_at"])

    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.Integer,
                  sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("agent_extension", sa.String(16), nullable=True),
        sa.Column("notes", sa.Text, nullable=False),
        _created_at(),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_tasks_customer_id", "tasks", ["customer_id"])
    op.create_index("ix_tasks_agent_extension", "tasks", ["agent_extension"])
    op.create_index("ix_tasks_status_scheduled", "tasks", ["status", "scheduled_at"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(255), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("agent_extension", sa.String(16), nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("jti", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.Integer,
                  sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.String(40), nullable=False),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id"])


def downgrade() -> None:
    for table in ("audit_log", "refresh_tokens", "users", "tasks", "interactions", "quotes",
                  "claims", "policies", "customer_phones", "customers"):
        op.drop_table(table)
