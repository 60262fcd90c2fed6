using System.Globalization;

namespace Neuro.Autoscaling.Forecasting;

/// <summary>A regularly sampled rate series: window start (s) and value (requests/s).</summary>
public sealed record RateSeries(double[] Times, double[] Values)
{
    public double StepSeconds => Times.Length > 1 ? Times[1] - Times[0] : 600;
    public int Count => Values.Length;

    /// <summary>Reads a two-column CSV (<c>window_start_s,requests_per_s</c>); a non-numeric first line is a header.</summary>
    public static RateSeries Load(string path)
    {
        var t = new List<double>(); var v = new List<double>();
        foreach (var raw in File.ReadLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0) continue;
            var p = line.Split(',');
            if (p.Length < 2) throw new InvalidDataException($"{path}: expected two columns: '{line}'");
            if (!double.TryParse(p[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var ts)) { if (t.Count == 0) continue; throw new InvalidDataException(line); }
            t.Add(ts); v.Add(double.Parse(p[1], NumberStyles.Float, CultureInfo.InvariantCulture));
        }
        return new RateSeries(t.ToArray(), v.ToArray());
    }
}

/// <summary>Calendar features. The series carries seconds from its start only; <c>StartDayOfWeek</c> (0 = Monday) and
/// <c>StartHour</c> place it on a calendar (unknown for ServeGen; Monday 00:00 is assumed).</summary>
public sealed record Calendar(int StartDayOfWeek = 0, double StartHour = 0)
{
    public double HourOfDay(double t) => ((StartHour * 3600 + t) % 86400 + 86400) % 86400 / 3600.0;
    public int DayOfWeek(double t) => (int)(((StartDayOfWeek + Math.Floor((StartHour * 3600 + t) / 86400)) % 7 + 7) % 7);
    public bool IsWeekend(double t) => DayOfWeek(t) >= 5;
    /// <summary>Seed 004 §5.3's regressor: 9 ≤ hour &lt; 17 on weekdays.</summary>
    public bool BusinessHours(double t) { var h = HourOfDay(t); return h >= 9 && h < 17 && !IsWeekend(t); }
}
