using Vireo.Host;

namespace Vireo.Engine;

/// <summary>
/// A forwarding sysctl that is on while any network needs it, and then back as the host had
/// it. The host's value is saved in the run dir when Vireo changes it, so a restarted daemon
/// still puts it back.
/// </summary>
internal sealed class ForwardingSwitch(string key, string savedFile)
{
    private readonly HashSet<string> _users = [];
    private string? _original = File.Exists(savedFile) ? File.ReadAllText(savedFile).Trim() : null;

    public void Need(string network, bool on)
    {
        lock (_users)
        {
            if (on)
            {
                _users.Add(network);
                var now = Sysctl.Read(key);
                if (now is null or "1") return;
                _original ??= now;
                AtomicFile.Write(savedFile, _original);
                Sysctl.Write(key, "1");
            }
            else if (_users.Remove(network) && _users.Count == 0 && _original is { } orig)
            {
                Sysctl.Write(key, orig);
                _original = null;
                File.Delete(savedFile);
            }
        }
    }

    /// <summary>A network adopted after a restart that already had forwarding on.</summary>
    public void Adopt(string network)
    {
        lock (_users) _users.Add(network);
    }
}
