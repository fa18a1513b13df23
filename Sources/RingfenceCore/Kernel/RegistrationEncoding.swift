// FilterRegistration / RestrictionSpec → the bytes of struct io_uring_bpf /
// io_uring_task_restriction, with every field (reserved ones too) as the case set it.

extension FilterRegistration {
    /// struct io_uring_bpf with the opcode already resolved; filter_ptr is
    /// left 0 for the backend to patch (see RegisterCall.programPointerOffset).
    public func argumentBytes(opcode: UInt32) -> [UInt8] {
        typealias R = FilterABI.Registration
        typealias F = FilterABI.Filter
        var img = ByteImage(size: R.size)
        img.store(cmdType, at: R.cmdType)
        img.store(cmdFlags, at: R.cmdFlags)
        img.store(resv, at: R.resv)
        let f = R.filter
        img.store(opcode, at: f + F.opcode)
        img.store(flags, at: f + F.flags)
        img.store(filterLen ?? UInt32(program.count), at: f + F.filterLen)
        img.store(pduSize, at: f + F.pduSize)
        for (i, b) in filterResv.prefix(F.resvCount).enumerated() { img.store(b, at: f + F.resv + i) }
        for (i, w) in resv2.prefix(F.resv2Count).enumerated() { img.store(w, at: f + F.resv2 + 8 * i) }
        return img.bytes
    }

    public func registerCall(fd: Int32, opcode: UInt32) -> RegisterCall {
        var call = RegisterCall(fd: fd, opcode: FilterABI.registerOpcode | (useRegisteredRing ? FilterABI.useRegisteredRing : 0),
                                arg: argumentBytes(opcode: opcode))
        call.argPlacement = argPointer
        call.nrArgs = nrArgs
        call.program = BPFInstruction.encode(program)
        call.programPlacement = filterPointer
        call.programPointerOffset = FilterABI.Registration.filter + FilterABI.Filter.filterPtr
        return call
    }

    /// The pdu_size field of an argument buffer read back after the call.
    public static func pduSize(in arg: [UInt8]) -> UInt8 {
        arg[FilterABI.Registration.filter + FilterABI.Filter.pduSize]
    }
}

extension RestrictionSpec {
    /// The io_uring_restriction array (legacy ring form and the tail of the task form).
    public var restrictionBytes: [UInt8] {
        typealias R = FilterABI.Restriction
        var entries: [(UInt16, UInt8)] = []
        entries += registerOps.map { (R.kindRegisterOp, $0) }
        entries += sqeOps.map { (R.kindSQEOp, $0) }
        if let a = sqeFlagsAllowed { entries.append((R.kindSQEFlagsAllowed, a.rawValue)) }
        if let r = sqeFlagsRequired { entries.append((R.kindSQEFlagsRequired, r.rawValue)) }
        var img = ByteImage(size: R.size * entries.count)
        for (i, (kind, value)) in entries.enumerated() {
            img.store(kind, at: i * R.size + R.opcode)
            img.store(value, at: i * R.size + R.value)
        }
        return img.bytes
    }

    public var entryCount: Int {
        registerOps.count + sqeOps.count + (sqeFlagsAllowed == nil ? 0 : 1) + (sqeFlagsRequired == nil ? 0 : 1)
    }

    /// struct io_uring_task_restriction followed by its restrictions.
    public var taskBytes: [UInt8] {
        typealias T = FilterABI.TaskRestriction
        var img = ByteImage(size: T.size)
        img.store(taskFlags, at: T.flags)
        img.store(UInt16(entryCount), at: T.nrRes)
        for (i, w) in taskResv.prefix(3).enumerated() { img.store(w, at: T.resv + 4 * i) }
        return img.bytes + restrictionBytes
    }

    public func registerCall(fd: Int32) -> RegisterCall {
        if target == .task {
            var call = RegisterCall(fd: -1, opcode: FilterABI.registerRestrictions, arg: taskBytes)
            call.nrArgs = nrArgs ?? 1
            return call
        }
        var call = RegisterCall(fd: fd, opcode: FilterABI.registerRestrictions, arg: restrictionBytes)
        call.nrArgs = nrArgs ?? UInt32(entryCount)
        return call
    }
}
