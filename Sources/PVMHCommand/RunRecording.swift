import Lifecycle
import Timeline

/// `pvmh run --trace FILE --map FILE.svg`: both files opened while the options
/// are checked (an unwritable path is bad usage, before any VM exists), both
/// sinks fed from the lifecycle's observer, and both files written once the
/// run is over, whatever its verdict (Docs/trace.md).
final class RunRecording: Sendable {
    struct Trace: Sendable {
        let file: OutputFile
        let recorder = TraceRecorder()
    }
    struct Map: Sendable {
        let file: OutputFile
        let timeline = OwnershipTimeline()
    }
    let trace: Trace?
    let map: Map?

    private init(trace: Trace?, map: Map?) {
        self.trace = trace
        self.map = map
    }

    /// Opens the files the options name (none: records nothing).
    static func open(trace: String?, map: String?) throws(UsageError) -> RunRecording {
        let traceFile = try trace.map { path throws(UsageError) in try openFile(path, what: "trace", option: "--trace") }
        let mapFile: OutputFile?
        do {
            mapFile = try map.map { path throws(UsageError) in try openFile(path, what: "map", option: "--map") }
        } catch {
            traceFile?.abandon()
            throw error
        }
        return RunRecording(trace: traceFile.map { Trace(file: $0) }, map: mapFile.map { Map(file: $0) })
    }

    static func openFile(_ path: String, what: String, option: String) throws(UsageError) -> OutputFile {
        do {
            return try OutputFile(path: path)
        } catch {
            throw UsageError("cannot open \(what) file \(path): \(error); choose a writable path for \(option)")
        }
    }

    func record(_ event: LifecycleEvent) {
        trace?.recorder.record(event)
        map?.timeline.record(event)
    }

    /// Writes both files; says where on stdout, or why not on stderr.
    /// Returns false if a file could not be written.
    func write(output: Output) -> Bool {
        var written = true
        if let trace {
            do {
                try trace.file.write(TraceDocument.json([trace.recorder]))
                output.line("trace: \(trace.file.path) (open it in ui.perfetto.dev with \"Open trace file\", or in chrome://tracing)")
            } catch {
                output.error("pvmh: could not write trace file \(trace.file.path): \(error)")
                written = false
            }
        }
        if let map {
            do {
                try map.file.write(OwnershipMap(map.timeline.picture).svg)
                output.line("map: \(map.file.path) (page ownership over the run, SVG)")
            } catch {
                output.error("pvmh: could not write map file \(map.file.path): \(error)")
                written = false
            }
        }
        return written
    }

    /// Gives the files up unwritten (another option was refused).
    func abandon() {
        trace?.file.abandon()
        map?.file.abandon()
    }
}
