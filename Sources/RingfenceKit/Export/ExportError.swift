import Foundation

public struct ExportError: Error, CustomStringConvertible {
    public var description: String
    init(_ s: String) { description = s }
}
