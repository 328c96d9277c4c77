"""Database: one SQLAlchemy metadata, engines for SQLite and PostgreSQL, Alembic migrations."""
