import Crdkafka
import Logging
import Synchronization

// MARK: - Rebalance handling (runs on the thread that polls the consumer)

extension RDKafkaCallbackContext {
    /// Handles librdkafka's rebalance callback: calls the user hooks, then assigns/unassigns.
    ///
    /// Eager protocol (the default `range,roundrobin` strategies): `ASSIGN` → `onAssign` → `rd_kafka_assign` with the
    /// returned offsets; `REVOKE` → `onRevoke` → `rd_kafka_assign(rk, NULL)`. If the group uses the cooperative
    /// protocol (set through properties), the incremental variants are used instead.
    func handleRebalance(
        rk: OpaquePointer,
        err: rd_kafka_resp_err_t,
        partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
    ) {
        self.state.withLock { $0.rebalanceGeneration += 1 }
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let given = RDKafkaTopicPartitionList.entries(of: partitions).map(\.partition)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            self.assign(rk: rk, given: given, cooperative: cooperative)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            self.revoke(rk: rk, given: given, partitions: partitions, cooperative: cooperative)
        default:
            let error = KafkaError.rdKafka(err, context: "rebalance failed")
            self.logger.info("Kafka rebalance error", metadata: [KafkaLoggingKeys.errorCode: "\(error.code.name)"])
            self.revoke(rk: rk, given: given, partitions: partitions, cooperative: cooperative)
            self.enqueue(error)
        }
    }

    private func assign(rk: OpaquePointer, given: [TopicPartition], cooperative: Bool) {
        self.logger.debug("Kafka partitions assigned", metadata: [KafkaLoggingKeys.partitions: "\(given)"])
        let offsets: [TopicPartition: KafkaOffset]
        do {
            offsets = try self.rebalanceHandlers?.onAssign(given) ?? [:]
        } catch {
            self.logger.info(
                "Kafka onAssign failed; leaving partitions unassigned",
                metadata: [KafkaLoggingKeys.partitions: "\(given)", "kafka.error": "\(error)"]
            )
            self.state.withLock { $0.rebalanceError = error }
            // Assign the empty set so librdkafka's group state machine moves on without fetching anything.
            if !cooperative {
                let empty = RDKafkaTopicPartitionList(capacity: 1)
                _ = empty.withListPointer { rd_kafka_assign(rk, $0) }
            }
            return
        }
        let list = RDKafkaTopicPartitionList(capacity: given.count)
        for partition in given {
            // Partitions the hook did not mention start from the committed offset, else `auto.offset.reset`.
            list.add(partition, offset: offsets[partition]?.rdKafkaOffset ?? Int64(RD_KAFKA_OFFSET_INVALID))
        }
        let failure: KafkaError? = list.withListPointer { pointer in
            if cooperative {
                return rd_kafka_incremental_assign(rk, pointer).map { KafkaError.consuming($0, context: "assign") }
            }
            let err = rd_kafka_assign(rk, pointer)
            return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError.rdKafka(err, context: "assign")
        }
        self.state.withLock { state in
            if let failure {
                state.rebalanceError = failure
            } else if cooperative {
                state.assignment.formUnion(given)
            } else {
                state.assignment = Set(given)
            }
        }
    }

    private func revoke(
        rk: OpaquePointer,
        given: [TopicPartition],
        partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        cooperative: Bool
    ) {
        // Only partitions that were really assigned (onAssign succeeded) are reported to onRevoke.
        let revoked = self.state.withLock { state in
            cooperative ? state.assignment.intersection(given) : state.assignment
        }
        self.logger.debug("Kafka partitions revoked", metadata: [KafkaLoggingKeys.partitions: "\(given)"])
        if !revoked.isEmpty {
            self.rebalanceHandlers?.onRevoke(
                revoked.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
            )
        }
        if cooperative {
            if let partitions, let error = rd_kafka_incremental_unassign(rk, partitions) {
                self.logger.info("Kafka unassign failed", metadata: ["kafka.error": "\(KafkaError.consuming(error))"])
            }
        } else {
            let err = rd_kafka_assign(rk, nil)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                self.logger.info("Kafka unassign failed", metadata: [KafkaLoggingKeys.errorCode: "\(err.rawValue)"])
            }
        }
        self.state.withLock { state in
            if cooperative {
                state.assignment.subtract(given)
            } else {
                state.assignment.removeAll()
            }
        }
    }
}
