import Crdkafka
import Logging
import Synchronization

/// The C callbacks installed on every configuration. Each one recovers its ``RDKafkaCallbackContext`` from the
/// opaque (see the lifetime contract there) and never lets a Swift error cross the C boundary.
enum RDKafkaCallbacks {
    /// Installs the callbacks for `role` and sets `context` as the (unretained) opaque.
    static func install(on conf: OpaquePointer, role: RDKafkaClient.Role, context: RDKafkaCallbackContext) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, buffer in
            guard let rk, let context = RDKafkaCallbackContext.from(rd_kafka_opaque(rk)) else { return }
            RDKafkaCallbacks.log(context: context, level: level, facility: facility, buffer: buffer)
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, opaque in
            guard let rk, let context = RDKafkaCallbackContext.from(opaque) else { return }
            RDKafkaCallbacks.error(context: context, rk: rk, err: err, reason: reason)
        }
        switch role {
        case .producer:
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
                guard let message, let context = RDKafkaCallbackContext.from(opaque) else { return }
                RDKafkaCallbacks.delivery(context: context, message: message)
            }
        case .consumer:
            rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
                guard let rk, let context = RDKafkaCallbackContext.from(opaque) else { return }
                context.handleRebalance(rk: rk, err: err, partitions: partitions)
            }
            rd_kafka_conf_set_offset_commit_cb(conf) { _, err, offsets, opaque in
                guard let context = RDKafkaCallbackContext.from(opaque) else { return }
                RDKafkaCallbacks.commit(context: context, err: err, offsets: offsets)
            }
        case .admin, .mockHost:
            break
        }
    }

    // MARK: - Handlers

    /// Routes librdkafka's syslog-levelled log lines to swift-log: warning and worse at `info`, the rest at `debug`.
    static func log(
        context: RDKafkaCallbackContext,
        level: Int32,
        facility: UnsafePointer<CChar>?,
        buffer: UnsafePointer<CChar>?
    ) {
        let swiftLevel: Logger.Level = level <= 4 ? .info : .debug
        guard context.logger.logLevel <= swiftLevel else { return }
        let text = context.redacted(buffer.map { String(cString: $0) } ?? "")
        context.logger.log(
            level: swiftLevel,
            "librdkafka log",
            metadata: [
                KafkaLoggingKeys.facility: "\(facility.map { String(cString: $0) } ?? "")",
                KafkaLoggingKeys.level: "\(level)",
                "kafka.log.message": "\(text)",
            ]
        )
    }

    /// Logs a client-level error and, for consumers, queues it for the next batch.
    static func error(context: RDKafkaCallbackContext, rk: OpaquePointer, err: Int32, reason: UnsafePointer<CChar>?) {
        var code = KafkaErrorCode(rawValue: err)
        var text = reason.map { String(cString: $0) } ?? code.name
        var isFatal = false
        if code == .fatal {
            var buffer = [CChar](repeating: 0, count: 512)
            code = KafkaErrorCode(rd_kafka_fatal_error(rk, &buffer, buffer.count))
            text = RDKafkaConfig.string(from: buffer)
            isFatal = true
        }
        let error = KafkaError(code: code, message: context.redacted(text), isFatal: isFatal)
        context.logger.info(
            "librdkafka client error",
            metadata: [KafkaLoggingKeys.errorCode: "\(code.name)", "kafka.error": "\(error)"]
        )
        context.enqueue(error)
    }

    /// Counts a delivery report.
    static func delivery(context: RDKafkaCallbackContext, message: UnsafePointer<rd_kafka_message_t>) {
        let err = message.pointee.err
        if err == RD_KAFKA_RESP_ERR_NO_ERROR {
            context.state.withLock { $0.deliveredCount += 1 }
            return
        }
        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
        let error = KafkaError.rdKafka(err, context: "delivery to \(topic)[\(message.pointee.partition)] failed")
        // A tagged message carries its tag + 1 as the message opaque (see `KafkaProducer.send`).
        let tag = message.pointee._private.map { Int(bitPattern: $0) - 1 }
        context.state.withLock { state in
            state.failedCount += 1
            state.lastDeliveryError = error
            if let tag, state.failedDeliveries.count < RDKafkaCallbackContext.maxFailedDeliveries {
                state.failedDeliveries.append(KafkaProducer.FailedDelivery(tag: tag, error: error))
            }
        }
        context.logger.debug(
            "Kafka delivery failed",
            metadata: [KafkaLoggingKeys.errorCode: "\(error.code.name)", "kafka.error": "\(error)"]
        )
    }

    /// Logs the outcome of an asynchronous commit (commits are advisory; errors are not thrown).
    static func commit(
        context: RDKafkaCallbackContext,
        err: rd_kafka_resp_err_t,
        offsets: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
    ) {
        let entries = RDKafkaTopicPartitionList.entries(of: offsets)
        let failed = entries.filter { $0.error != RD_KAFKA_RESP_ERR_NO_ERROR }
        if err == RD_KAFKA_RESP_ERR_NO_ERROR && failed.isEmpty {
            context.logger.trace("Kafka offsets committed", metadata: [KafkaLoggingKeys.partitions: "\(entries.count)"])
            return
        }
        if err == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
        let code = err != RD_KAFKA_RESP_ERR_NO_ERROR ? KafkaErrorCode(err) : KafkaErrorCode(failed[0].error)
        context.logger.info(
            "Kafka offset commit failed",
            metadata: [
                KafkaLoggingKeys.errorCode: "\(code.name)",
                KafkaLoggingKeys.partitions: "\(failed.map(\.partition.description))",
            ]
        )
    }
}
