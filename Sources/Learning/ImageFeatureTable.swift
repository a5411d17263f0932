import Catalog
import Model

/// The catalog in model form: every image's region grid and hashed keyword bags, indexed by key.
///
/// A table holds every catalog key (negatives and gate candidates are drawn from all of them), and the features of
/// every image (``init(images:hashBuckets:)``) or, in a fine-tuning cycle, only of those the cycle needs
/// (``LearnerCache`` loads them on demand and keeps them across cycles).
public struct ImageFeatureTable: Sendable {
    /// Image keys, in catalog order (by key).
    public let keys: [String]
    private let positions: [String: Int]
    /// Features by position, nil where not loaded.
    private let loaded: [ImageFeatures?]

    /// Hashes every image's keywords with the model's bucket count.
    /// - Parameters:
    ///   - images: The catalog.
    ///   - hashBuckets: The model's `H`.
    public init(images: [CatalogImage], hashBuckets: Int) {
        var keys: [String] = []
        var features: [ImageFeatures?] = []
        var positions: [String: Int] = [:]
        keys.reserveCapacity(images.count)
        features.reserveCapacity(images.count)
        for image in images where positions[image.key] == nil {
            positions[image.key] = keys.count
            keys.append(image.key)
            features.append(Self.features(of: image, hashBuckets: hashBuckets))
        }
        self.init(keys: keys, positions: positions, loaded: features)
    }

    /// A table over `keys` with the features loaded so far.
    init(keys: [String], positions: [String: Int], loaded: [ImageFeatures?]) {
        self.keys = keys
        self.positions = positions
        self.loaded = loaded
    }

    /// An image in model form: its regions, and its keywords hashed into `hashBuckets` trigram buckets.
    static func features(of image: CatalogImage, hashBuckets: Int) -> ImageFeatures {
        ImageFeatures(
            regions: image.regions,
            regionCount: image.regionCount,
            keywords: image.keywords.map { LetterTrigramHasher.encode($0, buckets: hashBuckets) }
        )
    }

    /// The number of images.
    public var count: Int { keys.count }

    /// The position of an image, nil when it is not in the catalog.
    public func position(of key: String) -> Int? { positions[key] }

    /// The features of the image at `position`.
    /// - Precondition: They are loaded (always, in a table built from the whole catalog).
    public func features(at position: Int) -> ImageFeatures {
        guard let features = loaded[position] else {
            preconditionFailure("the features of catalog image \(keys[position]) were not loaded")
        }
        return features
    }

    /// Every image's features, parallel to ``keys``.
    /// - Precondition: The table was built from the whole catalog.
    public var allFeatures: [ImageFeatures] { loaded.indices.map(features(at:)) }

    /// Whether the features of the image at `position` are loaded.
    func isLoaded(_ position: Int) -> Bool { loaded[position] != nil }

    /// An image's features, nil when it is not in the catalog (or, in a partial table, not loaded).
    public subscript(key: String) -> ImageFeatures? { positions[key].flatMap { loaded[$0] } }
}
