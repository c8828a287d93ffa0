"""Kafka Connect on the local broker: the Java starrocks-kafka-connector beside sinkapp in the
benchmarks, and the Debezium PostgreSQL source of the Debezium tests.

* :mod:`.jars`: ``connect-pom.xml`` (the Connect runtime at the broker's version, into
  ``<kafka home>/connect-libs``) and ``debezium-pom.xml`` (Debezium's PostgreSQL connector with the
  Connect runtime it is built for, into ``<kafka home>/debezium-libs``), fetched from Maven Central
  with ``mvn dependency:copy-dependencies``; a no-op once present.
* :mod:`.standalone`: one ``ConnectStandalone`` JVM (worker.properties [+ connector.properties] in
  its run directory), started and stopped by pid; connectors added and removed over its REST API.

The Java connector plugin is not fetched: it is a directory the user gives (``--java-plugin DIR``).
"""
