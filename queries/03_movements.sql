-- Person movements (the talk's streams-and-tables example).
CREATE STREAM IF NOT EXISTS movements (
    person VARCHAR KEY,
    event_ts VARCHAR,
    location VARCHAR
) WITH (kafka_topic='movements', value_format='JSON', partitions=1,
        timestamp='event_ts', timestamp_format='yyyy-MM-dd''T''HH:mm:ssX');

-- Where everyone went, in upper case.
CREATE STREAM IF NOT EXISTS movements_upper AS
    SELECT person, UCASE(location) AS location
    FROM movements
    EMIT CHANGES;

-- How often each person moved, and to how many distinct places (the talk's PERSON_MOVEMENTS).
CREATE TABLE IF NOT EXISTS person_movements AS
    SELECT person,
           COUNT_DISTINCT(location) AS unique_locations,
           COUNT(*) AS location_changes
    FROM movements
    GROUP BY person
    EMIT CHANGES;
