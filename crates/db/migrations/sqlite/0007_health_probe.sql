-- One row that the health probe and the storage watch rewrite: a write that a full
-- disk refuses, so that "the database answers" means "it takes writes".
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY,
    written_at BIGINT NOT NULL
);
