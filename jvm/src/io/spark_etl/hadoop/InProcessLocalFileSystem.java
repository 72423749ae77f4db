/*
 * spark-etl: the checksummed local filesystem (Hadoop's `file:` default) over
 * InProcessRawLocalFileSystem. spark-etl sets it as fs.file.impl for the Spark sessions it starts
 * in local mode; see src/spark_etl/runtime/localfs.py.
 */
package io.spark_etl.hadoop;

import org.apache.hadoop.fs.LocalFileSystem;

/** Hadoop's {@link LocalFileSystem} (with .crc files) that sets permissions in-process. */
public class InProcessLocalFileSystem extends LocalFileSystem {
  public InProcessLocalFileSystem() {
    super(new InProcessRawLocalFileSystem());
  }
}
