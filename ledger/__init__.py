"""The ledger: samples, payloads, rejections, drand signatures, packed embeddings, prices,
metagraph snapshots, weights, submissions, Almanac trade pulls and the devnet chain's state, in SQLite or PostgreSQL
(SQLAlchemy Core, versioned Alembic migrations). See `ledger.store` for the API and the embedding
blob layout, `ledger.schema` for the tables."""

from ledger.store import AlmanacEpoch, Ledger, RawPayload, Rejection, Sample, StoredWeights, Submission, TradePull, VestingEpoch

__all__ = ["AlmanacEpoch", "Ledger", "RawPayload", "Rejection", "Sample", "StoredWeights", "Submission", "TradePull", "VestingEpoch"]
