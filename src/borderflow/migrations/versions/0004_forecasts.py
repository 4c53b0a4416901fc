"""forecasts from the live state

Revision ID: 0004_forecasts
Revises: 0003_queue_outbox
Create Date: 2026-11-24 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import borderflow.db

revision: str = "0004_forecasts"
down_revision: str | None = '0003_queue_outbox'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('forecasts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('network_id', sa.String(length=100), nullable=False),
    sa.Column('made_at', borderflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('made_by', sa.String(length=200), nullable=False),
    sa.Column('starts_at', borderflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('horizon_hours', sa.Integer(), nullable=False),
    sa.Column('policy', sa.String(length=20), nullable=False),
    sa.Column('seed', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('replications', sa.Integer(), nullable=False),
    sa.Column('scenario_hash', sa.String(length=64), nullable=False),
    sa.Column('code_version', sa.String(length=40), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_forecasts'))
    )
    with op.batch_alter_table('forecasts', schema=None) as batch_op:
        batch_op.create_index('ix_forecasts_made_at', ['network_id', 'made_at'], unique=False)

    op.create_table('forecast_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('forecast_id', sa.Uuid(), nullable=False),
    sa.Column('booking_id', sa.Uuid(), nullable=True),
    sa.Column('shipment_id', sa.Uuid(), nullable=False),
    sa.Column('crossing_id', sa.String(length=100), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('slot_start', borderflow.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expected_cross_at', borderflow.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_forecast_items_booking_id_bookings')),
    sa.ForeignKeyConstraint(['forecast_id'], ['forecasts.id'], name=op.f('fk_forecast_items_forecast_id_forecasts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_forecast_items_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_forecast_items'))
    )
    with op.batch_alter_table('forecast_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_forecast_items_booking_id'), ['booking_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_forecast_items_forecast_id'), ['forecast_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('forecast_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_forecast_items_forecast_id'))
        batch_op.drop_index(batch_op.f('ix_forecast_items_booking_id'))

    op.drop_table('forecast_items')
    with op.batch_alter_table('forecasts', schema=None) as batch_op:
        batch_op.drop_index('ix_forecasts_made_at')

    op.drop_table('forecasts')
