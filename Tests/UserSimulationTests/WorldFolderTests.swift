import Foundation
import Simulation
import Testing
import UserSimulation

/// The users click by the truth of the world whose catalog was imported, or not at all.
@Suite struct WorldFolderTests {
    static func tiny(seed: UInt64) -> WorldConfiguration {
        var configuration = WorldConfiguration()
        configuration.concepts = 3
        configuration.images = 60
        configuration.regions = 2
        configuration.dimension = 4
        configuration.minKeywords = 2
        configuration.maxKeywords = 4
        configuration.trainingQueries = 5
        configuration.heldOutQueries = 2
        configuration.candidatesPerHeldOutQuery = 4
        configuration.resultsPerPage = 5
        configuration.seed = seed
        return configuration
    }

    static func folder(configuration: WorldConfiguration, catalogOf catalogWorld: WorldConfiguration) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-world-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try JSONEncoder().encode(configuration).write(to: folder.appendingPathComponent(WorldConfiguration.fileName))
        try Data(World(configuration: catalogWorld).catalogJSONL().utf8).write(
            to: folder.appendingPathComponent("catalog.jsonl")
        )
        return folder
    }

    @Test func aFolderRegeneratesItsWorld() throws {
        let folder = try Self.folder(configuration: Self.tiny(seed: 5), catalogOf: Self.tiny(seed: 5))
        defer { try? FileManager.default.removeItem(at: folder) }
        let world = try WorldFolder.load(folder.path)
        #expect(world.configuration == Self.tiny(seed: 5))
        #expect(world.images.map(\.key) == World(configuration: Self.tiny(seed: 5)).images.map(\.key))
    }

    @Test func aCatalogOfAnotherWorldOrAMissingConfigurationIsRefused() throws {
        let mismatched = try Self.folder(configuration: Self.tiny(seed: 5), catalogOf: Self.tiny(seed: 6))
        defer { try? FileManager.default.removeItem(at: mismatched) }
        #expect(throws: UserSimulationError.self) { try WorldFolder.load(mismatched.path) }
        try FileManager.default.removeItem(at: mismatched.appendingPathComponent(WorldConfiguration.fileName))
        do {
            _ = try WorldFolder.load(mismatched.path)
            Issue.record("a folder without world.json was accepted")
        } catch {
            #expect("\(error)".contains("world.json"))
        }
    }
}
