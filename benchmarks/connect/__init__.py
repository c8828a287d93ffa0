"""The Kafka Connect runtime for running a Java connector plugin beside sinkapp in the benchmarks.

* :mod:`.jars`: ``connect-pom.xml`` fetched from Maven Central with ``mvn dependency:copy-dependencies``
  into ``<kafka home>/connect-libs`` (default ``.kafka/connect-libs``, git-ignored, beside the broker's
  ``.kafka/libs``), at the broker's Kafka version; a no-op once present.
* :mod:`.standalone`: one ``ConnectStandalone`` JVM (worker.properties + connector.properties in its
  run directory, the JVM options of Kafka's ``bin/connect-standalone.sh``), started and stopped.

The connector plugin is not fetched: it is a directory the user gives (``--java-plugin DIR``).
"""
