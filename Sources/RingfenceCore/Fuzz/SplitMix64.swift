/// SplitMix64 (Steele, Lea, Flood 2014): the fuzzer's only source of randomness,
/// so a seed names every case it generates, on every machine.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The generator for case `index` of run `seed`: cases are independent of each other.
    public static func forCase(seed: UInt64, index: Int) -> SplitMix64 {
        var mix = SplitMix64(seed: seed ^ (UInt64(index) &* 0xd1b5_4a32_d192_ed03))
        return SplitMix64(seed: mix.next())
    }

    /// Uniform in 0..<n (n > 0), by rejection so no value is favoured.
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        let limit = UInt64.max - UInt64.max % bound
        while true {
            let v = next()
            if v < limit { return Int(v % bound) }
        }
    }

    /// True with probability `percent`/100.
    public mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    public mutating func u32() -> UInt32 { UInt32(truncatingIfNeeded: next()) }
}
