import Synchronization

/// One value that one thread sets and another reads (the first event of a
/// vCPU thread, a sample taken from an observer callback).
public final class LockedValue<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)

    public init() {}

    public func set(_ newValue: Value) { value.withLock { $0 = newValue } }
    public func get() -> Value? { value.withLock { $0 } }
}

/// One value per vCPU, each written by its own vCPU's thread (a call waiting
/// for the ledger's answer) while the others write theirs: the array is
/// shared, so it is locked.
///
/// Inlinable so the platforms' run loops get it specialised for their own
/// pending-call type: an unspecialised generic call looks up type metadata
/// on every share/unshare (seen in the bench's profile).
public final class PerVCPU<Value: Sendable>: Sendable {
    @usableFromInline let slots = Mutex<[Value]>([])
    @usableFromInline let empty: Value

    /// `empty` is what a slot holds when nothing is pending.
    public init(empty: Value) {
        self.empty = empty
    }

    /// `count` empty slots (when the vCPUs are created).
    public func reset(count: Int) {
        slots.withLock { $0 = Array(repeating: empty, count: count) }
    }

    /// Puts `value` in vCPU `index`'s slot and returns what was there
    /// (`empty` for an index without a slot).
    @discardableResult @inlinable
    public func exchange(_ index: Int, _ value: Value) -> Value {
        slots.withLock { slots in
            guard slots.indices.contains(index) else { return empty }
            defer { slots[index] = value }
            return slots[index]
        }
    }

    /// Empties vCPU `index`'s slot and returns what was there.
    @inlinable
    public func take(_ index: Int) -> Value { exchange(index, empty) }
}
