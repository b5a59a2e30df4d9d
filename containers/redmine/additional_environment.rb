# Warnings and errors only, to the container's log: request logs cost time and disk per
# instance.
config.log_level = :warn
config.logger = ActiveSupport::Logger.new($stdout)
