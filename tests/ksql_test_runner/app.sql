--@test: a join emits

CREATE STREAM s (id INT KEY, foo INT) WITH (kafka_topic='s', value_format='JSON');
CREATE TABLE t (id INT PRIMARY KEY, bar INT) WITH (kafka_topic='t', value_format='JSON');

CREATE STREAM j AS SELECT s.id, s.foo, t.bar FROM s JOIN t ON s.id = t.id;

INSERT INTO t (rowtime, id, bar) VALUES (1, 1, 1);
INSERT INTO s (rowtime, id, foo) VALUES (1, 1, 2);

ASSERT VALUES j (rowtime, s_id, foo, bar) VALUES (1, 1, 2, 1);
ASSERT STREAM j (s_id INT KEY, foo INT, bar INT) WITH (kafka_topic='J');

--@test: a replacement that drops a column is refused
--@expected.error: io.confluent.ksql.util.KsqlException
--@expected.message: The following columns are changed, missing or reordered

SET 'ksql.create.or.replace.enabled' = 'true';

CREATE STREAM a (id INT KEY, col1 INT, col2 INT) WITH (kafka_topic='a', value_format='JSON');
CREATE STREAM b AS SELECT id, col1, col2 FROM a;

INSERT INTO a (id, col1) VALUES (3, 5);

ASSERT VALUES b (id, col1) VALUES (3, 5);

CREATE OR REPLACE STREAM b AS SELECT id, col1 FROM a;

--@test: a filtered table deletes
CREATE TABLE t (id INT PRIMARY KEY, bar INT) WITH (kafka_topic='t', value_format='JSON');
CREATE TABLE u AS SELECT id, bar FROM t WHERE bar > 0;
INSERT INTO t (id, bar) VALUES (1, 1);
INSERT INTO t (id, bar) VALUES (1, 0);
ASSERT VALUES u (id, bar) VALUES (1, 1);
ASSERT NULL VALUES u (id) KEY (1);
ASSERT TABLE u (id INT PRIMARY KEY, bar INT);
