import Catalog
import Model

/// The catalog in model form: every image's region grid and hashed keyword bags, indexed by key.
public struct ImageFeatureTable: Sendable {
    /// Image keys, in catalog order.
    public let keys: [String]
    /// Features, parallel to ``keys``.
    public let features: [ImageFeatures]
    private let positions: [String: Int]

    /// Hashes every image's keywords with the model's bucket count.
    /// - Parameters:
    ///   - images: The catalog.
    ///   - hashBuckets: The model's `H`.
    public init(images: [CatalogImage], hashBuckets: Int) {
        var keys: [String] = []
        var features: [ImageFeatures] = []
        var positions: [String: Int] = [:]
        keys.reserveCapacity(images.count)
        features.reserveCapacity(images.count)
        for image in images where positions[image.key] == nil {
            positions[image.key] = keys.count
            keys.append(image.key)
            features.append(
                ImageFeatures(
                    regions: image.regions,
                    regionCount: image.regionCount,
                    keywords: image.keywords.map { LetterTrigramHasher.encode($0, buckets: hashBuckets) }
                )
            )
        }
        self.keys = keys
        self.features = features
        self.positions = positions
    }

    /// The number of images.
    public var count: Int { keys.count }

    /// The position of an image, nil when it is not in the catalog.
    public func position(of key: String) -> Int? { positions[key] }

    /// An image's features, nil when it is not in the catalog.
    public subscript(key: String) -> ImageFeatures? { positions[key].map { features[$0] } }
}
