// The pKVM model (in progress).
