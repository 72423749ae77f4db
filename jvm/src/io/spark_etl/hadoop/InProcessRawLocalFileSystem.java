/*
 * spark-etl: the local filesystem with permissions set in-process.
 *
 * Without Hadoop's native library (libhadoop.so, which Maven Central does not ship), every file
 * RawLocalFileSystem creates gets its permissions from a forked `chmod` process: the checkpoint
 * files of each streaming micro-batch (offset log, commit log, one state delta per partition) and
 * every file a local write produces. A fork took 10-20 ms apiece on the benchmark machine. This
 * class sets the same permission bits with java.nio instead.
 */
package io.spark_etl.hadoop;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;

import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.io.nativeio.NativeIO;

/** {@link RawLocalFileSystem} whose {@code setPermission} runs in-process on POSIX systems. */
public class InProcessRawLocalFileSystem extends RawLocalFileSystem {

  private static final PosixFilePermission[] BITS = {
    PosixFilePermission.OTHERS_EXECUTE,
    PosixFilePermission.OTHERS_WRITE,
    PosixFilePermission.OTHERS_READ,
    PosixFilePermission.GROUP_EXECUTE,
    PosixFilePermission.GROUP_WRITE,
    PosixFilePermission.GROUP_READ,
    PosixFilePermission.OWNER_EXECUTE,
    PosixFilePermission.OWNER_WRITE,
    PosixFilePermission.OWNER_READ,
  };

  /**
   * Sets the nine permission bits with java.nio. Hadoop's own path is kept where it differs:
   * with the native library (no fork there either), for the sticky bit (java.nio cannot set it),
   * and on a filesystem without POSIX permissions.
   */
  @Override
  public void setPermission(Path p, FsPermission permission) throws IOException {
    int mode = permission.toShort();
    if (NativeIO.isAvailable() || (mode & ~0777) != 0) {
      super.setPermission(p, permission);
      return;
    }
    try {
      Files.setPosixFilePermissions(pathToFile(p).toPath(), posix(mode));
    } catch (UnsupportedOperationException e) {
      super.setPermission(p, permission);
    }
  }

  static Set<PosixFilePermission> posix(int mode) {
    Set<PosixFilePermission> granted = EnumSet.noneOf(PosixFilePermission.class);
    for (int bit = 0; bit < BITS.length; bit++) {
      if ((mode & (1 << bit)) != 0) {
        granted.add(BITS[bit]);
      }
    }
    return granted;
  }
}
