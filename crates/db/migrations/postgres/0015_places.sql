-- Seed 000's location_data (issue 16): points users keep, each with the populated
-- place nearest to it (GeoNames, as JSON: name, divisions, country, coordinates,
-- distance) resolved when stored. `source` is manual, search or exif; a location
-- read from a photo's Exif names its upload and goes with it.
CREATE TABLE locations (
    id         TEXT PRIMARY KEY NOT NULL,
    owner_id   TEXT NOT NULL,
    latitude   DOUBLE PRECISION NOT NULL,
    longitude  DOUBLE PRECISION NOT NULL,
    label      TEXT,
    place      TEXT NOT NULL,
    source     TEXT NOT NULL,
    upload_id  TEXT REFERENCES uploads (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);

-- A user's locations, newest first; the radius filter's prefilter (a latitude
-- band of one user's rows, then longitude and the exact distance); an upload's.
CREATE INDEX locations_owner ON locations (owner_id, id);
CREATE INDEX locations_owner_latitude ON locations (owner_id, latitude);
CREATE INDEX locations_upload ON locations (upload_id);

-- A task's place (where a picture is of, or was taken): coordinates, and the
-- stored location they came from when one was named (no foreign key, as with
-- prompt_id: a task insert never fails for a location deleted meanwhile).
ALTER TABLE tasks ADD COLUMN latitude DOUBLE PRECISION;
ALTER TABLE tasks ADD COLUMN longitude DOUBLE PRECISION;
ALTER TABLE tasks ADD COLUMN location_id TEXT;
CREATE INDEX tasks_owner_latitude ON tasks (owner_id, latitude) WHERE latitude IS NOT NULL;
