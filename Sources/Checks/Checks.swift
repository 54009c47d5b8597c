/// The regression suite (in progress).
public enum ChecksModule {}
