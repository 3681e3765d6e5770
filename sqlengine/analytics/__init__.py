"""Analytical pull queries on DuckDB: any SQL over tables' current state and streams'
history (aggregates with or without GROUP BY, HAVING, joins, subqueries in FROM, DISTINCT,
ORDER BY, LIMIT/OFFSET), answered with ksqlDB's result types.

`plan` plans a query as one DuckDB statement, `translate` writes its expressions (DuckDB SQL
where DuckDB computes as ksqlDB does, else streamdb's own compiled code as a UDF), `views`
builds the Arrow views DuckDB reads, `values` converts values between the two.
"""
