/// A problem in a case file, reported as `file:line: field: message`.
public struct CaseFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var field: String
    public var message: String

    public init(file: String, line: Int, field: String, message: String) {
        self.file = file; self.line = line; self.field = field; self.message = message
    }

    /// Line 0 (the whole file, or a path) is left out.
    public var description: String {
        let place = line > 0 ? "\(file):\(line)" : file
        return field.isEmpty ? "\(place): \(message)" : "\(place): \(field): \(message)"
    }
}

/// Several problems found in one pass over a case (lint reports them all).
public struct CaseFileErrors: Error {
    public var errors: [CaseFileError]

    /// Throws nothing for none, the error itself for one, all of them for more.
    static func check(_ errors: [CaseFileError]) throws {
        if errors.count == 1 { throw errors[0] }
        if !errors.isEmpty { throw CaseFileErrors(errors: errors) }
    }

    /// Any error as case-file errors; one that is neither keeps its text at `file:line`.
    static func flatten(_ error: Error, file: String, line: Int) -> [CaseFileError] {
        switch error {
        case let e as CaseFileError: return [e]
        case let e as CaseFileErrors: return e.errors
        default: return [CaseFileError(file: file, line: line, field: "", message: "\(error)")]
        }
    }
}
