using System.Threading.Channels;

namespace Vireo.Engine;

/// <summary>A lifecycle event as virsh event prints it: "event 'lifecycle' for domain 'x': Started Booted".</summary>
public sealed record DomainEvent(string Domain, string Kind, string Event, string Detail, DateTimeOffset Time);

/// <summary>Fans events out to every subscriber; a slow subscriber never blocks the publisher.</summary>
public sealed class EventBus
{
    private readonly Lock _lock = new();
    private readonly List<Channel<DomainEvent>> _subscribers = [];
    private readonly TimeProvider _time;

    public EventBus(TimeProvider time) => _time = time;

    public void Publish(string domain, string ev, string detail, string kind = "lifecycle")
    {
        var e = new DomainEvent(domain, kind, ev, detail, _time.GetUtcNow());
        lock (_lock)
            foreach (var s in _subscribers) s.Writer.TryWrite(e);
    }

    public Subscription Subscribe()
    {
        var ch = Channel.CreateBounded<DomainEvent>(new BoundedChannelOptions(4096) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (_lock) _subscribers.Add(ch);
        return new Subscription(this, ch);
    }

    public sealed class Subscription(EventBus bus, Channel<DomainEvent> channel) : IDisposable
    {
        public ChannelReader<DomainEvent> Reader => channel.Reader;

        public void Dispose()
        {
            lock (bus._lock) bus._subscribers.Remove(channel);
            channel.Writer.TryComplete();
        }
    }
}
