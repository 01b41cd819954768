using System.Text.Json.Nodes;
using Vireo.Model;

namespace Vireo.Qemu;

public static partial class QemuArgv
{
    private static string ChardevBackend(CharDef c, string id, LaunchContext ctx)
    {
        var s = c.Type switch
        {
            "pty" => $"pty,id={id}",
            "file" => $"file,id={id},path={Escape(c.SourcePath!)}{(c.SourceAppend == "on" ? ",append=on" : "")}",
            "unix" => $"socket,id={id},path={Escape(c.SourcePath ?? Path.Combine(ctx.ChannelDir, $"{c.TargetName ?? id}.sock"))}" +
                      (c.SourceMode == "connect" ? "" : ",server=on,wait=off"),
            "null" => $"null,id={id}",
            _ => throw new LaunchException($"Unsupported character device type '{c.Type}'."),
        };
        if (c.LogFile is { } log) s += $",logfile={Escape(log)}{(c.LogAppend == "off" ? ",logappend=off" : ",logappend=on")}";
        return s;
    }

    private static void Chardevs(DomainDef d, LaunchContext ctx, Args a)
    {
        foreach (var s in d.Devices.Serials)
        {
            var id = $"char{s.Alias}";
            a.Add("-chardev", ChardevBackend(s, id, ctx));
            a.Device(new JsonObject { ["driver"] = "isa-serial", ["chardev"] = id, ["id"] = s.Alias, ["index"] = s.TargetPort ?? 0 });
        }
        // A console on a serial target is the serial port itself; only virtio consoles are devices.
        foreach (var c in d.Devices.Consoles.Where(c => c.TargetType == "virtio"))
        {
            var id = $"char{c.Alias}";
            a.Add("-chardev", ChardevBackend(c, id, ctx));
            a.Device(new JsonObject { ["driver"] = "virtconsole", ["chardev"] = id, ["id"] = c.Alias });
        }
        var nr = 1;
        foreach (var c in d.Devices.Channels)
        {
            var id = $"char{c.Alias}";
            a.Add("-chardev", ChardevBackend(c, id, ctx));
            a.Device(new JsonObject
            {
                ["driver"] = "virtserialport", ["bus"] = "virtio-serial0.0", ["nr"] = nr++, ["chardev"] = id, ["id"] = c.Alias, ["name"] = c.TargetName,
            });
        }
    }
}
