using System.Net;
using System.Net.Sockets;

namespace Neuro.Testing;

/// <summary>Free loopback ports for servers a test or benchmark starts. The kernel may hand the same just-released port
/// to two binds in a row, so a port is never given out twice by this process.</summary>
public static class FreePort
{
    private static readonly HashSet<int> Given = [];

    public static int Next()
    {
        lock (Given)
        {
            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                if (Given.Add(port))
                {
                    return port;
                }
            }
        }
    }
}
