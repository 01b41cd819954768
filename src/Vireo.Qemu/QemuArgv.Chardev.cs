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
            "unix" when c.SourceMode != "connect" && c.SourcePath is { } p && ctx.ChardevFds.TryGetValue(p, out var fd) => $"socket,id={id},fd={fd},server=on,wait=off",
            "unix" => $"socket,id={id},path={Escape(c.SourcePath ?? Path.Combine(ctx.ChannelDir, $"{c.TargetName ?? id}.sock"))}" +
                      (c.SourceMode == "connect" ? "" : ",server=on,wait=off"),
            "null" => $"null,id={id}",
            // SPICE channels: the agent (vdagent) on com.redhat.spice.0, or a named port the client opens.
            "spicevmc" => $"spicevmc,id={id},name=vdagent",
            "spiceport" => $"spiceport,id={id},name={Escape(c.SourceChannel!)}",
            "tcp" => $"socket,id={id},host={c.SourceHost ?? "127.0.0.1"},port={c.SourceService}" +
                     (c.SourceMode == "connect" ? "" : ",server=on,wait=off") + (c.Protocol == "telnet" ? ",telnet=on" : ""),
            "udp" => $"udp,id={id},host={c.SourceHost ?? "127.0.0.1"},port={c.SourceService}",
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
        foreach (var p in d.Devices.Parallels)
        {
            var id = $"char{p.Alias}";
            a.Add("-chardev", ChardevBackend(p, id, ctx));
            a.Device(new JsonObject { ["driver"] = "isa-parallel", ["chardev"] = id, ["id"] = p.Alias });
        }
        var nr = 1;
        foreach (var c in d.Devices.Channels)
        {
            var id = $"char{c.Alias}";
            a.Add("-chardev", ChardevBackend(c, id, ctx));
            var port = c.Address is { Type: "virtio-serial" } && c.Address.Get("port") is { } pn ? ParseNum(pn) : nr;
            var ctl = c.Address is { Type: "virtio-serial" } && c.Address.Get("controller") is { } cn ? ParseNum(cn) : 0;
            nr = port + 1;
            a.Device(new JsonObject
            {
                ["driver"] = "virtserialport", ["bus"] = $"virtio-serial{ctl}.0", ["nr"] = port, ["chardev"] = id, ["id"] = c.Alias,
                ["name"] = c.TargetName ?? (c.Type == "spicevmc" ? "com.redhat.spice.0" : null),
            });
        }
    }
}
