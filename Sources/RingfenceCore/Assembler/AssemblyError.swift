// What the assembler reports: the 1-based line of the program text (a
// `;`-separated statement reports the line it sits on) and what is wrong.

public struct AssemblyError: Error, CustomStringConvertible, Equatable {
    public let line: Int
    public let message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}

/// A problem found while parsing one statement; the driver adds the line.
struct OperandError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
