"""Tables that follow the data: record schema → StarRocks columns, DDL, schema evolution."""
