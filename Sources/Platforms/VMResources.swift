import KVM
import Lifecycle

/// What every KVM platform closes last and reports while it holds it: the
/// vCPUs (kvm_run first: a mapping holds its vCPU file, which holds the VM),
/// the VM fd (not while a vCPU stayed open), and /dev/kvm. Written once.
enum VMResources {
    /// Refuses more vCPUs than the kernel lets one VM have (KVM_CAP_MAX_VCPUS;
    /// 0 or an error means the kernel does not say, and KVM_CREATE_VCPU decides).
    static func checkVCPULimit(_ count: Int, vm: VirtualMachine) throws(LifecycleError) {
        guard let limit = try? vm.check(.maxVCPUs), limit > 0, count > limit else { return }
        throw .badInput("this kernel's KVM runs at most \(limit) vCPUs per VM (KVM_CAP_MAX_VCPUS), not \(count); use --vcpus 1 to \(limit)")
    }

    /// Unmaps a vCPU's kvm_run and closes its fd; the failures.
    static func close(_ vcpu: VCPU) -> [String] {
        var errors: [String] = []
        if vcpu.run.isMapped { do { try vcpu.run.unmap() } catch { errors.append(error.description) } }
        if vcpu.fd.isOpen { do { try vcpu.fd.close() } catch { errors.append(error.description) } }
        return errors
    }

    /// Closes the VM fd after `vcpuErrors` came back from closing its vCPUs;
    /// a VM whose vCPU could not be closed stays open (and says so).
    static func closeVM(_ vm: VirtualMachine?, after vcpuErrors: [String]) -> [String] {
        var errors = vcpuErrors
        if let vm, vm.fd.isOpen {
            if vcpuErrors.isEmpty {
                do { try vm.fd.close() } catch { errors.append(error.description) }
            } else {
                errors.append("the VM fd stays open because a vCPU could not be closed")
            }
        }
        return errors
    }

    /// The destroy step: vCPUs, the VM, then /dev/kvm; throws every failure in one sentence.
    static func destroy(system: KVMSystem, vm: VirtualMachine?, vcpuErrors: [String]) throws(LifecycleError) {
        var errors = closeVM(vm, after: vcpuErrors)
        if system.fd.isOpen {
            do { try system.fd.close() } catch { errors.append(error.description) }
        }
        if !errors.isEmpty { throw .teardown(errors.joined(separator: "; ")) }
    }

    /// Every fd and mapping still held, by name, for the "no fd left" verdict.
    static func open(system: KVMSystem, vm: VirtualMachine?, memory: [String], vcpus: [VCPU]) -> [String] {
        var open: [String] = []
        if system.fd.isOpen { open.append(system.fd.kind) }
        if let vm, vm.fd.isOpen { open.append(vm.fd.kind) }
        open += memory
        for vcpu in vcpus {
            if vcpu.fd.isOpen { open.append(vcpu.fd.kind) }
            if vcpu.run.isMapped { open.append(vcpu.run.what) }
        }
        return open
    }
}
