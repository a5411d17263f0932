import Foundation
import Simulation

/// The world an `amc simulate --out DIR` run wrote, regenerated from its configuration (`world.json`) so its truth
/// (concepts, intents, which images are relevant to a query and how much) is known, and checked against the folder's
/// `catalog.jsonl` so the users never click by the truth of another world than the one the catalog came from.
public enum WorldFolder {
    /// Reads `DIR/world.json`, regenerates the world and checks it against `DIR/catalog.jsonl`.
    /// - Parameter directory: The folder `amc simulate --out` wrote.
    /// - Returns: The world.
    /// - Throws: ``UserSimulationError`` when a file is missing or unreadable, the configuration is invalid, or the
    ///   catalog is not the regenerated world's.
    /// - Important: Generating a world takes CPU time proportional to its size; call it off the cooperative pool.
    public static func load(_ directory: String) throws -> World {
        let folder = URL(fileURLWithPath: directory, isDirectory: true)
        let manifest = folder.appendingPathComponent(WorldConfiguration.fileName)
        let configuration: WorldConfiguration
        do {
            configuration = try JSONDecoder().decode(WorldConfiguration.self, from: try Data(contentsOf: manifest))
        } catch let error as DecodingError {
            throw UserSimulationError("\(manifest.path) is not a world configuration: \(error.localizedDescription)")
        } catch {
            throw UserSimulationError(
                "cannot read \(manifest.path) (written by amc simulate --out \(directory)): \(error.localizedDescription)"
            )
        }
        if let problem = configuration.problem { throw UserSimulationError("\(manifest.path): \(problem)") }
        let world = World(configuration: configuration)
        let catalog = folder.appendingPathComponent("catalog.jsonl")
        let written: Data
        do {
            written = try Data(contentsOf: catalog)
        } catch {
            throw UserSimulationError("cannot read \(catalog.path): \(error.localizedDescription)")
        }
        guard written.elementsEqual(world.catalogJSONL().utf8) else {
            throw UserSimulationError(
                "\(catalog.path) is not the catalog of the world \(manifest.lastPathComponent) describes "
                    + "(regenerate the folder with amc simulate --out)"
            )
        }
        return world
    }
}
