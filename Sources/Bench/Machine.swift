import Glibc

extension MachineDescription {
    /// The machine this process runs on, with the load average now.
    static func current(build: String) -> MachineDescription {
        let cpuinfo = HostFiles.read("/proc/cpuinfo") ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { String($0.drop { $0 == " " }) } ?? "unknown CPU"
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        return MachineDescription(cpu: model, cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                                  memoryBytes: UInt64(max(0, pages)) * UInt64(max(0, pageSize)),
                                  kernel: "Linux \(release)", loadBefore: loadAverage(), loadAfter: [],
                                  startedAt: time(nil), build: build)
    }

    /// The 1, 5 and 15-minute load averages.
    static func loadAverage() -> [Double] {
        var values = [Double](repeating: 0, count: 3)
        let count = getloadavg(&values, 3)
        return count == 3 ? values : []
    }
}
