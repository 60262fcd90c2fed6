using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.Json;

namespace Neuro.WebRtc.Tests.Media;

/// <summary>Runs peers/media_peer.py (aiortc + PyAV under Debian's /usr/bin/python3) and returns its JSON answer.</summary>
internal static class MediaPeer
{
    public static string ScriptPath
    {
        get
        {
            var copied = Path.Combine(AppContext.BaseDirectory, "Media", "peers", "media_peer.py");
            if (File.Exists(copied))
            {
                return copied;
            }

            // Not copied to the output (the csproj does not list it): find it in the source tree.
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "tests", "Neuro.WebRtc.Tests", "Media", "peers", "media_peer.py");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }

            throw new FileNotFoundException("media_peer.py not found next to the tests or in the source tree");
        }
    }

    public static JsonElement Run(params string[] args)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(ScriptPath);
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("media_peer.py did not finish in 120 s");
        }

        Assert.True(process.ExitCode == 0, $"media_peer.py {string.Join(' ', args)} exited {process.ExitCode}: {stderr.Result}");
        return JsonDocument.Parse(stdout.Result).RootElement.Clone();
    }

    public static void WritePackets(string path, IEnumerable<byte[]> packets)
    {
        using var file = File.Create(path);
        Span<byte> length = stackalloc byte[2];
        foreach (var p in packets)
        {
            BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)p.Length);
            file.Write(length);
            file.Write(p);
        }
    }

    public static List<byte[]> ReadPackets(string path)
    {
        var data = File.ReadAllBytes(path);
        var packets = new List<byte[]>();
        for (var offset = 0; offset < data.Length;)
        {
            var n = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(offset));
            packets.Add(data.AsSpan(offset + 2, n).ToArray());
            offset += 2 + n;
        }

        return packets;
    }
}
