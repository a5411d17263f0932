import Foundation

/// The two teams of a team-draft interleaved ranking (`rankings.teams`, Docs/online.md).
public enum InterleavingTeam: String, Sendable, Hashable, Codable, CaseIterable {
    /// The version serving when the ranking was merged.
    case active
    /// The version under test.
    case candidate
}

/// Which team one interleaved impression (one returned ranking) credits.
public enum ImpressionCredit: String, Sendable, Hashable, Codable {
    /// More of the clicked images were placed by the candidate's team.
    case candidateWins = "win"
    /// More of the clicked images were placed by the active version's team.
    case candidateLoses = "loss"
    /// Both teams placed the same number (at least one each) of the clicked images.
    case tie

    /// Credits one interleaved ranking's clicks to the teams that placed the clicked images.
    ///
    /// Each distinct clicked image counts once for the team at its position (clicking it twice does not count
    /// twice); clicked images that are not in the ranking, or whose team is neither `active` nor `candidate`, count
    /// for nobody. The team with more clicked images wins the impression; equal counts are a tie. An impression
    /// with no counted click credits nobody (nil): it says nothing about which ranking users preferred, so it is
    /// not a tie and is left out of every tally.
    /// - Parameters:
    ///   - images: The ranking's images in order.
    ///   - teams: `teams[i]` is the team that placed `images[i]` (`active` or `candidate`).
    ///   - clicked: The images clicked on that ranking.
    /// - Returns: The credit, or nil when no clicked image counted.
    public static func of(images: [String], teams: [String], clicked: some Sequence<String>) -> ImpressionCredit? {
        var team: [String: InterleavingTeam] = [:]
        for (image, name) in zip(images, teams) where team[image] == nil {
            team[image] = InterleavingTeam(rawValue: name)
        }
        var candidate = 0
        var active = 0
        for image in Set(clicked) {
            switch team[image] {
            case .candidate: candidate += 1
            case .active: active += 1
            case nil: break
            }
        }
        if candidate + active == 0 { return nil }
        if candidate > active { return .candidateWins }
        if candidate < active { return .candidateLoses }
        return .tie
    }
}

/// Wins, losses and ties of the candidate over credited interleaved impressions.
public struct InterleavingTally: Sendable, Hashable, Codable {
    /// Impressions the candidate's team won.
    public var wins = 0
    /// Impressions the active version's team won.
    public var losses = 0
    /// Impressions with as many clicked images from each team.
    public var ties = 0

    /// - Parameters:
    ///   - wins: Impressions the candidate won.
    ///   - losses: Impressions the candidate lost.
    ///   - ties: Tied impressions.
    public init(wins: Int = 0, losses: Int = 0, ties: Int = 0) {
        self.wins = wins
        self.losses = losses
        self.ties = ties
    }

    /// Tallies a sequence of credits.
    /// - Parameter credits: One credit per credited impression.
    public init(_ credits: some Sequence<ImpressionCredit>) {
        for credit in credits { add(credit) }
    }

    /// Counts one more credited impression.
    /// - Parameter credit: Its credit.
    public mutating func add(_ credit: ImpressionCredit) {
        switch credit {
        case .candidateWins: wins += 1
        case .candidateLoses: losses += 1
        case .tie: ties += 1
        }
    }

    /// Every credited impression: wins + losses + ties.
    public var impressions: Int { wins + losses + ties }

    /// The two-sided exact sign test's p-value of these wins and losses (ties dropped): ``SignTest/pValue(wins:losses:)``.
    public var pValue: Double { SignTest.pValue(wins: wins, losses: losses) }
}
