import Foundation

/// Who this learner is: host and process id.
public enum LearnerIdentity {
    /// `HOST pid PID` of this process.
    public static var current: String {
        "\(ProcessInfo.processInfo.hostName) pid \(ProcessInfo.processInfo.processIdentifier)"
    }
}
